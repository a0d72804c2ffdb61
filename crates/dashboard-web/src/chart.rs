//! Drawing a figure on a canvas (the chart crate over plotters' canvas
//! backend), and the readout under the pointer: the time and each meter's
//! value there (a line), or the period's values (columns). The readout is
//! also worked from the keyboard: the canvas takes the focus and the arrow
//! keys move along the time axis.

use crate::canvas::CanvasText;
use crate::format;
use charts::{Chart, Figure, Plot};
use plotters::prelude::*;
use std::cell::RefCell;
use web_sys::{HtmlCanvasElement, HtmlElement};

/// What a canvas shows, kept for its readout.
pub struct Drawn {
    pub figure: Figure,
    pub plot: Plot,
    /// The site's time zone.
    pub zone: String,
    /// The unit of a line's values, of a column's.
    pub unit: Option<String>,
    /// The previous period's name, when it is drawn.
    pub previous: Option<&'static str>,
    /// A column's name in full ("Wed 2019-10-30"), for the readout.
    pub titles: Vec<String>,
    /// Where the keyboard cursor is, in canvas pixels.
    pub cursor: Option<i32>,
}

thread_local! {
    static DRAWN: RefCell<Option<Drawn>> = const { RefCell::new(None) };
}

/// The canvas' size for its container: its width, 16:9 up to `tallest`.
pub fn size(canvas: &HtmlCanvasElement, tallest: u32) -> (u32, u32) {
    let width = canvas
        .parent_element()
        .map(|parent| parent.client_width())
        .unwrap_or(800)
        .clamp(200, 4000) as u32;
    (width, ((width * 9) / 16).clamp(200, tallest))
}

/// Draws `figure` on `canvas` at `size`, in the page's colour scheme;
/// where its data went, for a line or column chart.
pub fn draw(
    canvas: &HtmlCanvasElement,
    (width, height): (u32, u32),
    figure: &Figure,
) -> Result<Option<Plot>, String> {
    canvas.set_width(width);
    canvas.set_height(height);
    let backend = CanvasText::new(canvas.clone()).ok_or("this browser cannot draw on a canvas")?;
    let area = backend.into_drawing_area();
    let theme = charts::Theme {
        // Labels readable on a screen (a PNG's scale with its size).
        smallest_text: if width < 600 { 11.0 } else { 13.0 },
        ..if format::dark() {
            charts::Theme::DARK
        } else {
            charts::Theme::LIGHT
        }
    };
    let plot = charts::draw_themed(&area, figure, theme).map_err(|error| error.to_string())?;
    area.present().map_err(|error| error.to_string())?;
    let _ = canvas.set_attribute(
        "aria-label",
        &format!("{}: {}", figure.title, figure.subtitle),
    );
    Ok(plot)
}

/// Keeps what the main chart shows for its readout (`None`: nothing).
pub fn remember(drawn: Option<Drawn>) {
    hide_tip();
    DRAWN.with_borrow_mut(|slot| *slot = drawn);
}

fn tip() -> HtmlElement {
    crate::by_id("chart-tip")
}

pub fn hide_tip() {
    tip().set_hidden(true);
}

/// Shows the readout for canvas pixel `(x, y)`; hides it off the plot.
pub fn point_at(x: i32, y: i32) {
    let lines = DRAWN.with_borrow(|drawn| drawn.as_ref().and_then(|drawn| readout(drawn, x)));
    let Some(lines) = lines else {
        hide_tip();
        return;
    };
    let tip = tip();
    tip.set_text_content(None);
    let document = crate::document();
    for (index, line) in lines.iter().enumerate() {
        let row = document
            .create_element(if index == 0 { "strong" } else { "span" })
            .unwrap();
        row.set_text_content(Some(line));
        tip.append_child(&row).unwrap();
    }
    tip.set_hidden(false);
    // Beside the pointer, on the side with room.
    let canvas: HtmlCanvasElement = crate::by_id("line-chart");
    let width = canvas.client_width();
    let tip_width = tip.offset_width();
    let left = if x + 16 + tip_width > width {
        (x - 16 - tip_width).max(0)
    } else {
        x + 16
    };
    let style = tip.style();
    let _ = style.set_property("left", &format!("{left}px"));
    let _ = style.set_property("top", &format!("{}px", (y + 12).max(0)));
}

/// The arrow keys: moves the keyboard cursor one step (`direction` ±1).
pub fn step(direction: i32) {
    let at = DRAWN.with_borrow_mut(|drawn| {
        let drawn = drawn.as_mut()?;
        let plot = drawn.plot;
        let steps = match &drawn.figure.chart {
            Chart::Columns(columns) => columns.labels.len().max(1) as i32,
            _ => 48,
        };
        let width = plot.right - plot.left;
        let current = drawn.cursor.unwrap_or(if direction > 0 {
            plot.left - width / steps / 2
        } else {
            plot.right + width / steps / 2
        });
        let next = (current + direction * (width / steps).max(1)).clamp(
            plot.left + width / steps / 2,
            plot.right - 1 - width / steps / 2,
        );
        drawn.cursor = Some(next);
        Some((next, plot.top + (plot.bottom - plot.top) / 3))
    });
    if let Some((x, y)) = at {
        point_at(x, y);
    }
}

/// The readout's lines at `x`: a heading, then one per value.
fn readout(drawn: &Drawn, x: i32) -> Option<Vec<String>> {
    let plot = drawn.plot;
    if x < plot.left || x >= plot.right {
        return None;
    }
    let share = f64::from(x - plot.left) / f64::from(plot.right - plot.left);
    let unit = drawn.unit.as_deref();
    match &drawn.figure.chart {
        Chart::Line(line) => {
            let at = line.start + (share * (line.end - line.start) as f64) as i64;
            // A column's worth of time either side finds a bucket.
            let slack = (line.end - line.start) / i64::from((plot.right - plot.left).max(1)) + 1;
            let mut values: Vec<(f64, String)> = Vec::new();
            let mut span: Option<(i64, i64)> = None;
            let before = drawn.previous.unwrap_or_default();
            let all = line
                .series
                .iter()
                .map(|series| (series, String::new()))
                .chain(
                    line.previous
                        .iter()
                        .map(|series| (series, format!(", {before}"))),
                );
            for (series, when) in all {
                let found = series
                    .buckets
                    .binary_search_by(|bucket| {
                        if bucket.end + slack <= at {
                            std::cmp::Ordering::Less
                        } else if bucket.start - slack > at {
                            std::cmp::Ordering::Greater
                        } else {
                            std::cmp::Ordering::Equal
                        }
                    })
                    .ok()
                    .map(|index| series.buckets[index]);
                let Some(bucket) = found else { continue };
                if when.is_empty() {
                    span.get_or_insert((bucket.start, bucket.end));
                }
                let value = if bucket.count <= 1 || bucket.low == bucket.high {
                    format::quantity(bucket.high, unit)
                } else {
                    format::with_unit(
                        format!(
                            "{} to {}",
                            charts::format_value(bucket.low),
                            charts::format_value(bucket.high)
                        ),
                        unit,
                    )
                };
                values.push((bucket.high, format!("{}{when}: {value}", series.name)));
            }
            let (start, end) = span?;
            values.sort_by(|a, b| b.0.total_cmp(&a.0));
            let mut lines = vec![format!(
                "{} – {}",
                format::local_time(start, &drawn.zone),
                format::local_time(end, &drawn.zone)
                    .rsplit_once(' ')
                    .map(|(time, _)| time.get(11..).unwrap_or(time).to_owned())
                    .unwrap_or_default()
            )];
            let shown = values.len().min(8);
            lines.extend(values.iter().take(shown).map(|(_, text)| text.clone()));
            if values.len() > shown {
                lines.push(format!("and {} more", values.len() - shown));
            }
            Some(lines)
        }
        Chart::Columns(columns) => {
            let count = columns.labels.len();
            let index = ((share * count as f64) as usize).min(count.checked_sub(1)?);
            let mut lines = vec![
                drawn
                    .titles
                    .get(index)
                    .unwrap_or(&columns.labels[index])
                    .clone(),
            ];
            let mut total = None;
            for series in columns.series.iter().rev() {
                if let Some(value) = series.values.get(index).copied().flatten() {
                    *total.get_or_insert(0.0) += value;
                    lines.push(format!(
                        "{}: {}",
                        series.name,
                        format::quantity(value, unit)
                    ));
                }
            }
            if columns.series.len() > 1 {
                lines.push(format!(
                    "total: {}",
                    total.map_or("no data".to_owned(), |total| format::quantity(total, unit))
                ));
            }
            if let (Some(name), Some(previous)) = (
                drawn.previous,
                columns.previous.get(index).copied().flatten(),
            ) {
                lines.push(format!("{name}: {}", format::quantity(previous, unit)));
            }
            Some(lines)
        }
        _ => None,
    }
}
