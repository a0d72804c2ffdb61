//! Each point's share of the window's consumption as a pie, largest first
//! clockwise from twelve o'clock, with a legend of names, values and
//! percentages (labels on the slices themselves would collide).

use crate::layout::{Frame, Rect, fit, format_value, text_width};
use crate::{DrawError, Share, grouped, share_color};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// At most this many slices; the smallest shares become "other".
const MAX_SLICES: usize = 12;
/// A slice smaller than this share of the whole joins "other" too.
const MIN_SHARE: f64 = 0.015;

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    body: Rect,
    shares: &[Share],
) -> Result<(), DrawError> {
    let total: f64 = shares.iter().map(|s| s.value.max(0.0)).sum();
    if total <= 0.0 || !total.is_finite() {
        return frame.message(area, body, "no consumption in this window");
    }
    let big = shares
        .iter()
        .filter(|s| s.value / total >= MIN_SHARE)
        .count()
        .clamp(1, MAX_SLICES);
    // One more slot when the rest is grouped: "other" takes it.
    let grouped = grouped(shares, if big < shares.len() { big + 1 } else { big });
    let slices = &grouped.shares;

    let legend_width = body.width() * 2 / 5;
    let radius = ((body.width() - legend_width).min(body.height()) / 2 - frame.margin).max(4);
    let center = (
        body.left + (body.width() - legend_width) / 2,
        body.top + body.height() / 2,
    );
    let mut angle = -std::f64::consts::FRAC_PI_2;
    for (index, slice) in slices.iter().enumerate() {
        let sweep = slice.value.max(0.0) / total * std::f64::consts::TAU;
        // One vertex per 2 degrees keeps the arc smooth at any size.
        let steps = ((sweep.to_degrees() / 2.0).ceil() as usize).max(1);
        let mut polygon = Vec::with_capacity(steps + 2);
        polygon.push(center);
        for step in 0..=steps {
            let at = angle + sweep * step as f64 / steps as f64;
            polygon.push((
                center.0 + (f64::from(radius) * at.cos()).round() as i32,
                center.1 + (f64::from(radius) * at.sin()).round() as i32,
            ));
        }
        area.draw(&Polygon::new(
            polygon,
            share_color(&grouped, index).filled(),
        ))?;
        angle += sweep;
    }
    // White separators between slices.
    if slices.len() > 1 {
        let mut angle = -std::f64::consts::FRAC_PI_2;
        for slice in slices {
            area.draw(&PathElement::new(
                vec![
                    center,
                    (
                        center.0 + (f64::from(radius) * angle.cos()).round() as i32,
                        center.1 + (f64::from(radius) * angle.sin()).round() as i32,
                    ),
                ],
                ShapeStyle::from(&frame.theme.background).stroke_width(2),
            ))?;
            angle += slice.value.max(0.0) / total * std::f64::consts::TAU;
        }
    }

    let legend = Rect {
        left: body.right - legend_width + frame.margin,
        top: body.top,
        right: body.right,
        bottom: body.bottom,
    };
    let text = frame
        .style(frame.text, &frame.theme.ink)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row = (frame.text * 1.6).round() as i32;
    let first = legend.top + (legend.height() - row * slices.len() as i32).max(0) / 2;
    let swatch = (frame.text * 1.1) as i32;
    for (index, slice) in slices.iter().enumerate() {
        let middle = first + row * index as i32 + row / 2;
        area.draw(&Rectangle::new(
            [
                (legend.left, middle - swatch / 2),
                (legend.left + swatch, middle + swatch / 2),
            ],
            share_color(&grouped, index).filled(),
        ))?;
        // The name gives way to the value and percentage.
        let figures = format!(
            "  {} ({:.1} %)",
            format_value(slice.value),
            slice.value / total * 100.0
        );
        let room = legend.width() - swatch - frame.margin / 2 - text_width(area, &figures, &text)?;
        let label = format!("{}{figures}", fit(area, &slice.name, &text, room.max(0))?);
        area.draw_text(
            &label,
            &text,
            (legend.left + swatch + frame.margin / 2, middle),
        )?;
    }
    Ok(())
}
