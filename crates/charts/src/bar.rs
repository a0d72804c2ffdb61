//! Each point's consumption as a horizontal bar, largest first: names
//! stay readable however many points there are, because the rows that do
//! not fit become one "other" bar.

use crate::layout::{Frame, Rect, fit, format_value, nice_ticks, text_width};
use crate::{DrawError, Share, grouped, share_color};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    body: Rect,
    shares: &[Share],
) -> Result<(), DrawError> {
    let text = frame.style(frame.text, &frame.theme.ink);
    let axis_height = (frame.text * 1.8) as i32;
    // A row is at least one line of text and a little air.
    let row_min = (frame.text * 1.35).ceil() as i32;
    let rows = ((body.height() - axis_height) / row_min).max(1) as usize;
    let grouped = grouped(shares, rows);
    let shares = &grouped.shares;
    let high = shares.iter().map(|s| s.value).fold(0.0f64, f64::max);
    let (_, high, ticks) = nice_ticks(0.0, high, 6);

    // Names on the left, at most a third of the width.
    let mut name_width = 0;
    for share in shares {
        name_width = name_width.max(text_width(area, &share.name, &text)?);
    }
    let name_width = name_width.min(body.width() / 3);
    let mut value_width = 0;
    for share in shares {
        value_width = value_width.max(text_width(area, &format_value(share.value), &text)?);
    }
    // Rows share the height; a bar is at most two lines thick.
    let row = (body.height() - axis_height) / shares.len().max(1) as i32;
    let plot = Rect {
        left: body.left + name_width + frame.margin / 2,
        top: body.top,
        right: body.right - value_width - frame.margin / 2,
        bottom: body.top + row * shares.len() as i32,
    };
    if plot.width() < 10 || row < 1 {
        return frame.message(area, body, "too small to draw");
    }
    let x = |value: f64| plot.left + ((value / high) * f64::from(plot.width())).round() as i32;

    let centered = frame
        .style(frame.text, &frame.theme.muted)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let mut last_label_end = i32::MIN;
    for tick in &ticks {
        let at = x(*tick);
        area.draw(&PathElement::new(
            vec![(at, plot.top), (at, plot.bottom)],
            frame.theme.grid,
        ))?;
        let label = format_value(*tick);
        let width = text_width(area, &label, &centered)?;
        if at - width / 2 > last_label_end + frame.margin / 2 {
            area.draw_text(&label, &centered, (at, plot.bottom + frame.margin / 3))?;
            last_label_end = at + width / 2;
        }
    }

    let bar = (row * 7 / 10).clamp(1, row_min * 2);
    let name_style = text.clone().pos(Pos::new(HPos::Right, VPos::Center));
    let value_style = text.clone().pos(Pos::new(HPos::Left, VPos::Center));
    for (index, share) in shares.iter().enumerate() {
        let middle = plot.top + row * index as i32 + row / 2;
        let end = x(share.value.max(0.0));
        area.draw(&Rectangle::new(
            [
                (plot.left, middle - bar / 2),
                (end.max(plot.left + 1), middle + bar / 2),
            ],
            share_color(&grouped, index).filled(),
        ))?;
        let name = fit(area, &share.name, &text, name_width)?;
        area.draw_text(&name, &name_style, (plot.left - frame.margin / 3, middle))?;
        area.draw_text(
            &format_value(share.value),
            &value_style,
            (end + frame.margin / 3, middle),
        )?;
    }
    plot.draw_axes(area, &frame.theme)?;
    Ok(())
}
