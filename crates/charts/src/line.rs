//! Consumption per interval over time: one line per series, a legend on
//! the right, local-time ticks below.

use crate::layout::{Frame, Rect, ValueAxis, fit, text_width};
use crate::{Bucket, DrawError, LineChart, Plot, color};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    body: Rect,
    chart: &LineChart,
) -> Result<Option<Plot>, DrawError> {
    let text = frame.style(frame.text, &frame.theme.ink);
    let names: Vec<(&str, RGBColor)> = if chart.legend {
        chart
            .series
            .iter()
            .map(|series| (series.name.as_str(), color(series.color)))
            .collect()
    } else {
        Vec::new()
    };
    let (plot_right, legend) = legend_column(area, frame, body, &names)?;

    let axis = ValueAxis::fit(area, frame, body, plot_right, value_range(chart), &text)?;
    let plot = axis.plot;
    if plot.width() < 10 || plot.height() < 10 {
        return frame
            .message(area, body, "too small to draw")
            .map(|()| None);
    }
    let y = |value: f64| axis.y(value);
    let span = (chart.end - chart.start).max(1) as f64;
    let x = |at: i64| -> i32 {
        let share = (at - chart.start) as f64 / span;
        plot.left + (share * f64::from(plot.width())).round() as i32
    };

    axis.draw(area, frame, body, &text, &chart.value_label)?;

    // Time grid and labels, skipping a label that would touch the last.
    let centered = frame
        .style(frame.text, &frame.theme.muted)
        .pos(Pos::new(HPos::Center, VPos::Top));
    let mut last_label_end = i32::MIN;
    for tick in &chart.ticks {
        if tick.at < chart.start || tick.at > chart.end {
            continue;
        }
        let at = x(tick.at);
        area.draw(&PathElement::new(
            vec![(at, plot.top), (at, plot.bottom)],
            frame.theme.grid,
        ))?;
        let width = text_width(area, &tick.label, &centered)?;
        let (from, to) = (at - width / 2, at + width / 2);
        if from > last_label_end + frame.margin / 2 && from >= body.left && to <= frame.width {
            area.draw(&PathElement::new(
                vec![(at, plot.bottom), (at, plot.bottom + frame.margin / 4)],
                frame.theme.axis,
            ))?;
            area.draw_text(&tick.label, &centered, (at, plot.bottom + frame.margin / 3))?;
            last_label_end = to;
        }
    }
    plot.draw_axes(area, &frame.theme)?;

    // The series. A sparse one is a line through its buckets; a
    // dense one (buckets about a pixel column apart) is each bucket's span
    // from low to high as a 1-pixel column, joined to the next where the
    // two do not touch: the picture a line through every raw interval
    // would give, at the cost of the pixels it covers.
    let plot_area = area.clone().shrink(
        (plot.left, plot.top),
        (plot.width() as u32 + 1, plot.height() as u32 + 1),
    );
    // Each bucket of a run as (x, top, bottom) within the plot.
    let spans_of = |run: &[Bucket]| -> Vec<(i32, i32, i32)> {
        run.iter()
            .map(|bucket| {
                (
                    x((bucket.start + bucket.end) / 2) - plot.left,
                    y(bucket.high) - plot.top,
                    y(bucket.low) - plot.top,
                )
            })
            .collect()
    };
    // The period before first, beneath: each point's colour half faded
    // into the background, one pixel wide.
    for series in &chart.previous {
        let color = faded(color(series.color), frame.theme.background);
        for run in runs(&series.buckets) {
            let spans = spans_of(run);
            draw_path(&plot_area, &spans, &color, 1)?;
        }
    }
    for series in &chart.series {
        let dense = series.buckets.len() as i32 > plot.width() / 3;
        let color = color(series.color);
        for run in runs(&series.buckets) {
            let spans = spans_of(run);
            if dense {
                draw_columns(&plot_area, &spans, &color)?;
            } else {
                // Many lines stay apart better thin.
                let width = if chart.series.len() > 10 { 1 } else { 2 };
                draw_path(&plot_area, &spans, &color, width)?;
            }
        }
    }

    if let Some(legend) = legend {
        draw_legend(area, frame, legend, &names)?;
    }
    Ok(Some(axis.placed()))
}

/// Each `(x, top, bottom)` span as a column, joined to the one before by a
/// line between their nearer ends where they do not touch.
fn draw_columns<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spans: &[(i32, i32, i32)],
    color: &RGBColor,
) -> Result<(), DrawError> {
    let mut previous: Option<(i32, i32, i32)> = None;
    for &(x, top, bottom) in spans {
        // Corners as a backend fills them: right and bottom excluded.
        area.draw(&Rectangle::new(
            [(x, top), (x + 1, bottom + 1)],
            color.filled(),
        ))?;
        if let Some((px, ptop, pbottom)) = previous {
            let apart = x - px > 1 || top > pbottom + 1 || bottom < ptop - 1;
            if apart {
                let from = if pbottom < top {
                    pbottom
                } else if ptop > bottom {
                    ptop
                } else {
                    (ptop + pbottom) / 2
                };
                let to = if bottom < ptop {
                    bottom
                } else if top > pbottom {
                    top
                } else {
                    from.clamp(top, bottom)
                };
                area.draw(&PathElement::new(vec![(px, from), (x, to)], color))?;
            }
        }
        previous = Some((x, top, bottom));
    }
    Ok(())
}

/// A line `width` pixels wide through the spans (up and down each that
/// has a height); a lone span is a dot.
fn draw_path<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spans: &[(i32, i32, i32)],
    color: &RGBColor,
    width: u32,
) -> Result<(), DrawError> {
    let style = ShapeStyle::from(color).stroke_width(width);
    let mut path: Vec<(i32, i32)> = Vec::with_capacity(spans.len() * 2);
    for &(x, top, bottom) in spans {
        // Enter each span at the end nearer to where the path is.
        let top_first = path
            .last()
            .is_some_and(|&(_, last)| (last - top).abs() < (last - bottom).abs());
        let (first, second) = if top_first {
            (top, bottom)
        } else {
            (bottom, top)
        };
        path.push((x, first));
        if second != first {
            path.push((x, second));
        }
    }
    if path.len() == 1 {
        area.draw(&Circle::new(path[0], 2, style.filled()))?;
    } else {
        area.draw(&PathElement::new(path, style))?;
    }
    Ok(())
}

/// `color` half way to `background`.
fn faded(color: RGBColor, background: RGBColor) -> RGBColor {
    let mix = |a: u8, b: u8| ((u16::from(a) + u16::from(b)) / 2) as u8;
    RGBColor(
        mix(color.0, background.0),
        mix(color.1, background.1),
        mix(color.2, background.2),
    )
}

/// The smallest low and largest high of all series (and of the period
/// before), with zero included.
fn value_range(chart: &LineChart) -> (f64, f64) {
    let mut low: f64 = 0.0;
    let mut high: f64 = 0.0;
    for bucket in chart
        .series
        .iter()
        .chain(&chart.previous)
        .flat_map(|s| &s.buckets)
    {
        if bucket.low.is_finite() {
            low = low.min(bucket.low);
        }
        if bucket.high.is_finite() {
            high = high.max(bucket.high);
        }
    }
    (low, high)
}

/// Consecutive buckets without a hole: a gap of more than three buckets'
/// width (a meter that was offline) breaks the line.
fn runs(buckets: &[Bucket]) -> impl Iterator<Item = &[Bucket]> {
    let widest = buckets
        .iter()
        .map(|b| b.end - b.start)
        .max()
        .unwrap_or(1)
        .max(1);
    buckets.chunk_by(move |a, b| b.start - a.end <= 3 * widest)
}

/// Where the plot ends and the legend of `names` goes (a column on the
/// right; none without names).
pub fn legend_column<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    body: Rect,
    names: &[(&str, RGBColor)],
) -> Result<(i32, Option<Rect>), DrawError> {
    if names.is_empty() {
        return Ok((body.right, None));
    }
    let text = frame.style(frame.text, &frame.theme.ink);
    let mut widest = 0;
    for (name, _) in names {
        widest = widest.max(text_width(area, name, &text)?);
    }
    let swatch = (frame.text * 1.6) as i32;
    let width = (widest + swatch + frame.margin).min(body.width() / 4);
    let left = body.right - width;
    Ok((
        left - frame.margin,
        Some(Rect {
            left,
            top: body.top,
            right: body.right,
            bottom: body.bottom,
        }),
    ))
}

/// A swatch and a name per entry, top down; "and N more" when they do not
/// all fit.
pub fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    legend: Rect,
    names: &[(&str, RGBColor)],
) -> Result<(), DrawError> {
    let text = frame
        .style(frame.text, &frame.theme.ink)
        .pos(Pos::new(HPos::Left, VPos::Center));
    let row = (frame.text * 1.5).round() as i32;
    let rows = (legend.height() / row).max(1) as usize;
    let swatch = (frame.text * 1.2) as i32;
    let shown = if names.len() > rows {
        rows - 1
    } else {
        names.len()
    };
    for (index, (name, swatch_color)) in names.iter().take(shown).enumerate() {
        let middle = legend.top + row * index as i32 + row / 2;
        area.draw(&Rectangle::new(
            [
                (legend.left, middle - 2),
                (legend.left + swatch, middle + 2),
            ],
            swatch_color.filled(),
        ))?;
        let name = fit(
            area,
            name,
            &text,
            legend.width() - swatch - frame.margin / 2,
        )?;
        area.draw_text(
            &name,
            &text,
            (legend.left + swatch + frame.margin / 2, middle),
        )?;
    }
    if shown < names.len() {
        let middle = legend.top + row * shown as i32 + row / 2;
        let more = format!("and {} more", names.len() - shown);
        area.draw_text(
            &more,
            &frame
                .style(frame.text, &frame.theme.muted)
                .pos(Pos::new(HPos::Left, VPos::Center)),
            (legend.left, middle),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(start: i64, end: i64) -> Bucket {
        Bucket {
            start,
            end,
            total: 1.0,
            low: 1.0,
            high: 1.0,
            count: 1,
        }
    }

    #[test]
    fn a_long_gap_breaks_the_line() {
        let buckets = [
            bucket(0, 300),
            bucket(300, 600),
            bucket(600, 900),
            bucket(5_000, 5_300),
            bucket(5_300, 5_600),
        ];
        let runs: Vec<usize> = runs(&buckets).map(<[Bucket]>::len).collect();
        assert_eq!(runs, vec![3, 2]);
        let runs: Vec<usize> = runs_of(&buckets[..3]);
        assert_eq!(runs, vec![3]);
    }

    fn runs_of(buckets: &[Bucket]) -> Vec<usize> {
        runs(buckets).map(<[Bucket]>::len).collect()
    }
}
