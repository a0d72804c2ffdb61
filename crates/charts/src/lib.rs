//! The API's charts, drawn with plotters on any [`DrawingBackend`]: the
//! `/graphics` component draws them into a bitmap (feature `png`), the
//! browser dashboard onto a canvas. Input is plain data (names, times,
//! values, tick labels already in local time); nothing here knows SQL,
//! Spin or time zones.
//!
//! Layout is done here rather than with plotters' `ChartBuilder` so that
//! every backend gets the same picture: text is measured through the
//! backend, everything else is arithmetic on pixels.

mod bar;
#[cfg(feature = "png")]
pub mod bitmap;
mod columns;
mod layout;
mod line;
mod pie;

pub use layout::{Theme, format_value, nice_ticks};
pub use plotters::style::RGBColor;

use plotters::coord::Shift;
use plotters::prelude::*;

/// Everything a chart shows.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Figure {
    /// What is shown ("Consumption per point").
    pub title: String,
    /// When, in the project's local time ("2019-10-30 00:00 – 2019-10-31 00:00, America/Toronto").
    pub subtitle: String,
    pub chart: Chart,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(tag = "type", content = "data", rename_all = "lowercase")
)]
pub enum Chart {
    /// Consumption per interval over time, one line per series.
    Line(LineChart),
    /// Each item's share of the total, as horizontal bars (largest first).
    Bar(Vec<Share>),
    /// Each item's share of the total, as a pie (largest first).
    Pie(Vec<Share>),
    /// Nothing to draw: the message says why.
    Empty(String),
    /// A value per period (day, month) as columns, the series stacked.
    Columns(ColumnChart),
}

/// Periods side by side (the days of a week, the months of a year), each
/// a column with the series stacked in order, the first at the bottom.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ColumnChart {
    /// One per column, written under it ("Mon 28", "Oct").
    pub labels: Vec<String>,
    /// The y axis' title ("kWh per day").
    pub value_label: String,
    /// Whether to name the series in a legend.
    pub legend: bool,
    pub series: Vec<ColumnSeries>,
    /// The previous period's value per column (the same day last week),
    /// drawn as a mark across each column for comparison; empty for none.
    #[cfg_attr(feature = "serde", serde(default))]
    pub previous: Vec<Option<f64>>,
    /// The legend's name for the marks ("the week before").
    #[cfg_attr(feature = "serde", serde(default))]
    pub previous_name: String,
}

/// One stacked series of a [`ColumnChart`].
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ColumnSeries {
    pub name: String,
    /// Its slot in the palette ([`color`]); `usize::MAX` is [`OTHER`].
    pub color: usize,
    /// One per column; `None` where it has no data.
    pub values: Vec<Option<f64>>,
}

/// One named quantity (a point's consumption over the window).
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Share {
    pub name: String,
    pub value: f64,
    /// Its slot in the palette ([`color`]): a point keeps its colour in
    /// every chart.
    pub color: usize,
}

/// A time axis from `start` to `end` (Unix seconds, `end` excluded) and
/// the series drawn on it.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LineChart {
    pub start: i64,
    pub end: i64,
    /// Labelled instants on the time axis, in order.
    pub ticks: Vec<Tick>,
    /// The y axis' title ("per interval").
    pub value_label: String,
    /// Whether to name the series in a legend (not needed when the title
    /// names the only one).
    pub legend: bool,
    pub series: Vec<Series>,
    /// The same points over the period before, moved onto this time axis
    /// (yesterday under today), drawn faint and thin beneath the series
    /// for comparison; none by default.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Vec::is_empty")
    )]
    pub previous: Vec<Series>,
}

#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Tick {
    pub at: i64,
    pub label: String,
}

/// One point's intervals, reduced to buckets no finer than a pixel column.
#[derive(Debug, Clone, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Series {
    pub name: String,
    /// Its slot in the palette ([`color`]).
    pub color: usize,
    /// In time order, not overlapping.
    pub buckets: Vec<Bucket>,
}

/// The intervals whose readings fall in `[start, end)`: their sum, their
/// smallest and largest, how many. A bucket of one interval has
/// `low == high == total`. Drawing the span from `low` to `high` keeps a
/// single-interval spike visible at any zoom.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Bucket {
    pub start: i64,
    pub end: i64,
    pub total: f64,
    pub low: f64,
    pub high: f64,
    pub count: u64,
}

/// Why a chart could not be drawn: the backend's error, as text.
#[derive(Debug, Clone, PartialEq)]
pub struct DrawError(pub String);

impl std::fmt::Display for DrawError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "drawing the chart failed: {}", self.0)
    }
}

impl std::error::Error for DrawError {}

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for DrawError {
    fn from(error: DrawingAreaErrorKind<E>) -> Self {
        DrawError(error.to_string())
    }
}

/// The colour of the "other" bar or slice: grey, so it reads as a remainder.
pub const OTHER: RGBColor = RGBColor(170, 170, 178);

/// The colour of share `index` of a [`Grouped`].
pub fn share_color(grouped: &Grouped, index: usize) -> RGBColor {
    if grouped.other && index + 1 == grouped.shares.len() {
        OTHER
    } else {
        color(grouped.shares[index].color)
    }
}

/// The colour of the `index`th series or slice: ten distinct colours
/// (Tableau 10), then hues spaced by the golden angle; `usize::MAX` is
/// [`OTHER`].
pub fn color(index: usize) -> RGBColor {
    if index == usize::MAX {
        return OTHER;
    }
    const TABLEAU: [(u8, u8, u8); 10] = [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
        (186, 176, 172),
    ];
    if let Some(&(r, g, b)) = TABLEAU.get(index) {
        return RGBColor(r, g, b);
    }
    let hue = (index as f64 * 137.508) % 360.0;
    let (r, g, b) = HSLColor(hue / 360.0, 0.55, 0.5).rgb();
    RGBColor(r, g, b)
}

/// Where a line or column chart drew its data, in the area's pixels
/// (right and bottom excluded), and the value range of its y axis: what a
/// page needs to say which time or column is under the pointer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plot {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
    /// The value at the bottom and at the top.
    pub low: f64,
    pub high: f64,
}

/// Draws `figure` over the whole of `area` in the light theme.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &Figure,
) -> Result<(), DrawError> {
    draw_themed(area, figure, Theme::LIGHT).map(|_| ())
}

/// Draws `figure` over the whole of `area` in `theme`; where the data went
/// for a line or column chart.
pub fn draw_themed<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    figure: &Figure,
    theme: Theme,
) -> Result<Option<Plot>, DrawError> {
    area.fill(&theme.background)?;
    let frame = layout::Frame::new(area, theme);
    let body = frame.heading(area, &figure.title, &figure.subtitle)?;
    match &figure.chart {
        Chart::Line(chart) => line::draw(area, &frame, body, chart),
        Chart::Columns(chart) => columns::draw(area, &frame, body, chart),
        Chart::Bar(shares) => bar::draw(area, &frame, body, shares).map(|()| None),
        Chart::Pie(shares) => pie::draw(area, &frame, body, shares).map(|()| None),
        Chart::Empty(message) => frame.message(area, body, message).map(|()| None),
    }
}

/// Shares largest first; when `other`, the last is the sum of the
/// smallest ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Grouped {
    pub shares: Vec<Share>,
    pub other: bool,
}

/// `shares` largest first (ties by name), at most `slots` of them: when
/// there are more, the smallest are added up into one "other (N points)".
pub fn grouped(shares: &[Share], slots: usize) -> Grouped {
    let mut sorted = shares.to_vec();
    sorted.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.name.cmp(&b.name))
    });
    let slots = slots.max(1);
    if sorted.len() <= slots {
        return Grouped {
            shares: sorted,
            other: false,
        };
    }
    let rest = sorted.split_off(slots - 1);
    sorted.push(Share {
        name: format!("other ({} points)", rest.len()),
        color: usize::MAX,
        value: rest.iter().map(|s| s.value).sum(),
    });
    Grouped {
        shares: sorted,
        other: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share(name: &str, value: f64) -> Share {
        Share {
            name: name.to_owned(),
            value,
            color: 0,
        }
    }

    #[test]
    fn the_smallest_shares_become_other_and_nothing_is_lost() {
        let shares: Vec<Share> = (0..60)
            .map(|i| share(&format!("m{i}"), f64::from(i)))
            .collect();
        let grouped = grouped(&shares, 10);
        assert!(grouped.other);
        let grouped = grouped.shares;
        assert_eq!(grouped.len(), 10);
        assert_eq!(grouped[0], share("m59", 59.0));
        assert_eq!(grouped[9].name, "other (51 points)");
        let total: f64 = grouped.iter().map(|s| s.value).sum();
        assert_eq!(total, (0..60).sum::<i32>() as f64);
        let few = super::grouped(&shares[..3], 10);
        assert_eq!((few.shares.len(), few.other), (3, false));
    }

    #[test]
    fn colours_are_distinct() {
        let colours: std::collections::HashSet<(u8, u8, u8)> = (0..60)
            .map(|i| {
                let c = color(i);
                (c.0, c.1, c.2)
            })
            .collect();
        assert_eq!(colours.len(), 60);
    }
}
