//! A value per period as columns (the days of a week, the months of a
//! year), the series stacked, a legend on the right, the previous period
//! as a mark across each column.

use crate::layout::{Frame, Rect, ValueAxis, text_width};
use crate::line::{draw_legend, legend_column};
use crate::{ColumnChart, DrawError, Plot, color};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    frame: &Frame,
    body: Rect,
    chart: &ColumnChart,
) -> Result<Option<Plot>, DrawError> {
    let count = chart.labels.len();
    if count == 0 {
        return frame.message(area, body, "no periods").map(|()| None);
    }
    let theme = &frame.theme;
    let text = frame.style(frame.text, &theme.ink);
    let mut names: Vec<(&str, RGBColor)> = if chart.legend {
        chart
            .series
            .iter()
            .map(|series| (series.name.as_str(), color(series.color)))
            .collect()
    } else {
        Vec::new()
    };
    if chart.previous.iter().any(Option::is_some) && !chart.previous_name.is_empty() {
        names.push((&chart.previous_name, theme.ink));
    }
    let (plot_right, legend) = legend_column(area, frame, body, &names)?;

    let axis = ValueAxis::fit(area, frame, body, plot_right, value_range(chart), &text)?;
    let plot = axis.plot;
    if plot.width() < count as i32 || plot.height() < 10 {
        return frame
            .message(area, body, "too small to draw")
            .map(|()| None);
    }
    let y = |value: f64| axis.y(value);
    // Column `i` owns [edge(i), edge(i + 1)); its bar is the middle 70 %.
    let edge =
        |i: usize| plot.left + (i as f64 * f64::from(plot.width()) / count as f64).round() as i32;

    axis.draw(area, frame, body, &text, &chart.value_label)?;
    let muted = frame.style(frame.text, &theme.muted);

    // Period labels under their columns, skipping one that would touch
    // the last drawn.
    let centered = muted.clone().pos(Pos::new(HPos::Center, VPos::Top));
    let mut last_label_end = i32::MIN;
    for (index, label) in chart.labels.iter().enumerate() {
        let middle = (edge(index) + edge(index + 1)) / 2;
        let width = text_width(area, label, &centered)?;
        let (from, to) = (middle - width / 2, middle + width / 2);
        if from > last_label_end + frame.margin / 2 && from >= body.left && to <= frame.width {
            area.draw_text(label, &centered, (middle, plot.bottom + frame.margin / 3))?;
            last_label_end = to;
        }
    }

    for index in 0..count {
        let slot = edge(index + 1) - edge(index);
        let bar = (slot * 7 / 10).max(1);
        let left = edge(index) + (slot - bar) / 2;
        let (mut up, mut down) = (0.0, 0.0);
        for series in &chart.series {
            let Some(value) = series.values.get(index).copied().flatten() else {
                continue;
            };
            if !value.is_finite() || value == 0.0 {
                continue;
            }
            let (from, to) = if value > 0.0 {
                up += value;
                (up - value, up)
            } else {
                down += value;
                (down - value, down)
            };
            let (top, bottom) = (y(from.max(to)), y(from.min(to)));
            area.draw(&Rectangle::new(
                [(left, top), (left + bar, bottom.max(top + 1))],
                color(series.color).filled(),
            ))?;
        }
        if let Some(previous) = chart.previous.get(index).copied().flatten()
            && previous.is_finite()
        {
            // A bar across the column at the previous value, wider than
            // the column so it shows above and inside it alike.
            let at = y(previous);
            let reach = (slot - bar) / 4 + 1;
            area.draw(&Rectangle::new(
                [(left - reach, at - 1), (left + bar + reach, at + 2)],
                theme.ink.filled(),
            ))?;
        }
    }
    plot.draw_axes(area, theme)?;
    if let Some(legend) = legend {
        draw_legend(area, frame, legend, &names)?;
    }
    Ok(Some(axis.placed()))
}

/// The lowest and highest stack (and previous value), zero included.
fn value_range(chart: &ColumnChart) -> (f64, f64) {
    let (mut low, mut high) = (0.0f64, 0.0f64);
    for index in 0..chart.labels.len() {
        let (mut up, mut down) = (0.0, 0.0);
        for value in chart
            .series
            .iter()
            .filter_map(|series| series.values.get(index).copied().flatten())
            .filter(|value| value.is_finite())
        {
            if value > 0.0 {
                up += value;
            } else {
                down += value;
            }
        }
        high = high.max(up);
        low = low.min(down);
        if let Some(previous) = chart.previous.get(index).copied().flatten()
            && previous.is_finite()
        {
            high = high.max(previous);
            low = low.min(previous);
        }
    }
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ColumnSeries;

    #[test]
    fn stacks_set_the_range_and_the_previous_period_counts() {
        let chart = ColumnChart {
            labels: vec!["a".into(), "b".into()],
            value_label: "kWh per day".into(),
            legend: true,
            series: vec![
                ColumnSeries {
                    name: "x".into(),
                    color: 0,
                    values: vec![Some(2.0), Some(-1.0)],
                },
                ColumnSeries {
                    name: "y".into(),
                    color: 1,
                    values: vec![Some(3.0), None],
                },
            ],
            previous: vec![None, Some(7.5)],
            previous_name: "the day before".into(),
        };
        assert_eq!(value_range(&chart), (-1.0, 7.5));
    }
}
