//! Sizes, text and numbers shared by every chart.

use crate::{DrawError, Plot};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A rectangle in pixels: left, top, right, bottom (right and bottom
/// excluded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub left: i32,
    pub top: i32,
    pub right: i32,
    pub bottom: i32,
}

impl Rect {
    pub fn width(&self) -> i32 {
        self.right - self.left
    }

    pub fn height(&self) -> i32 {
        self.bottom - self.top
    }

    /// The left and bottom axis lines of a plot in this rectangle.
    pub fn draw_axes<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        theme: &Theme,
    ) -> Result<(), DrawError> {
        area.draw(&PathElement::new(
            vec![
                (self.left, self.top),
                (self.left, self.bottom),
                (self.right, self.bottom),
            ],
            theme.axis,
        ))?;
        Ok(())
    }
}

/// The colours of everything but the data, light (the PNGs, the page by
/// default) or dark (a page in `prefers-color-scheme: dark`), and the
/// smallest text: a PNG's text scales with its size (9 px at the least),
/// a screen wants its text readable whatever the chart's size.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    pub background: RGBColor,
    /// Titles, labels, legends.
    pub ink: RGBColor,
    /// Subtitles, tick labels, axis titles, messages.
    pub muted: RGBColor,
    pub grid: RGBColor,
    pub axis: RGBColor,
    /// Labels' size in pixels at the least (titles are larger).
    pub smallest_text: f64,
}

impl Theme {
    pub const LIGHT: Theme = Theme {
        background: WHITE,
        ink: RGBColor(40, 40, 46),
        muted: RGBColor(110, 110, 120),
        grid: RGBColor(225, 225, 230),
        axis: RGBColor(160, 160, 170),
        smallest_text: 9.0,
    };
    pub const DARK: Theme = Theme {
        background: RGBColor(30, 32, 36),
        ink: RGBColor(228, 230, 235),
        muted: RGBColor(160, 164, 175),
        grid: RGBColor(58, 62, 70),
        axis: RGBColor(110, 115, 128),
        smallest_text: 9.0,
    };
}

/// Font sizes and margins, scaled with the figure so that a 2 × 2 thumbnail
/// and a 40 × 40 poster both read well.
pub struct Frame {
    pub width: i32,
    pub height: i32,
    /// Labels, legends, tick labels.
    pub text: f64,
    pub title: f64,
    pub margin: i32,
    pub theme: Theme,
}

impl Frame {
    pub fn new<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, theme: Theme) -> Self {
        let (width, height) = area.dim_in_pixel();
        let short = f64::from(width.min(height));
        let text = (short / 56.0).clamp(9.0, 30.0).max(theme.smallest_text);
        Frame {
            width: width as i32,
            height: height as i32,
            text,
            title: (text * 1.45).round(),
            margin: (text * 1.2).round() as i32,
            theme,
        }
    }

    pub fn style(&self, size: f64, color: &RGBColor) -> TextStyle<'static> {
        ("sans-serif", size).into_font().color(color)
    }

    /// Title and subtitle at the top; returns the area left below them.
    pub fn heading<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        title: &str,
        subtitle: &str,
    ) -> Result<Rect, DrawError> {
        let mut y = self.margin;
        let title_style = self.style(self.title, &self.theme.ink);
        let title = fit(area, title, &title_style, self.width - 2 * self.margin)?;
        area.draw_text(&title, &title_style, (self.margin, y))?;
        y += (self.title * 1.3) as i32;
        if !subtitle.is_empty() {
            let style = self.style(self.text, &self.theme.muted);
            let subtitle = fit(area, subtitle, &style, self.width - 2 * self.margin)?;
            area.draw_text(&subtitle, &style, (self.margin, y))?;
            y += (self.text * 1.4) as i32;
        }
        Ok(Rect {
            left: self.margin,
            top: y + self.margin / 2,
            right: self.width - self.margin,
            bottom: self.height - self.margin,
        })
    }

    /// A sentence in the middle of `body`, for a chart with nothing to show.
    pub fn message<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        body: Rect,
        message: &str,
    ) -> Result<(), DrawError> {
        area.draw(&Rectangle::new(
            [(body.left, body.top), (body.right, body.bottom)],
            ShapeStyle::from(&self.theme.grid).stroke_width(1),
        ))?;
        let style = self
            .style(self.title, &self.theme.muted)
            .pos(Pos::new(HPos::Center, VPos::Center));
        let message = fit(area, message, &style, body.width() - 2 * self.margin)?;
        area.draw_text(
            &message,
            &style,
            (body.left + body.width() / 2, body.top + body.height() / 2),
        )?;
        Ok(())
    }
}

/// The width of `text` in `style`, as the backend will draw it.
pub fn text_width<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
) -> Result<i32, DrawError> {
    Ok(area.estimate_text_size(text, style)?.0 as i32)
}

/// `text`, shortened with "…" until it is at most `width` pixels wide.
pub fn fit<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    width: i32,
) -> Result<String, DrawError> {
    if text_width(area, text, style)? <= width {
        return Ok(text.to_owned());
    }
    let chars: Vec<char> = text.chars().collect();
    // Binary search on the number of characters kept.
    let (mut low, mut high) = (0usize, chars.len());
    while low < high {
        let middle = (low + high).div_ceil(2);
        let candidate: String = chars[..middle].iter().chain(['…'].iter()).collect();
        if text_width(area, &candidate, style)? <= width {
            low = middle;
        } else {
            high = middle - 1;
        }
    }
    Ok(chars[..low].iter().chain(['…'].iter()).collect())
}

/// About `target` evenly spaced round values (steps of 1, 2 or 5 times a
/// power of ten) covering `low..=high`: the axis' range and its ticks.
pub fn nice_ticks(low: f64, high: f64, target: usize) -> (f64, f64, Vec<f64>) {
    let (low, high) = if low.is_finite() && high.is_finite() && high > low {
        (low, high)
    } else if low.is_finite() && low != 0.0 {
        (low.min(0.0), low.max(0.0) + low.abs() * 0.1)
    } else {
        (0.0, 1.0)
    };
    let rough = (high - low) / target.max(1) as f64;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).floor() * step;
    let last = (high / step).ceil() * step;
    let count = ((last - first) / step).round() as usize;
    let ticks = (0..=count).map(|i| first + i as f64 * step).collect();
    (first, last, ticks)
}

/// A value for people: grouped thousands, at most three significant
/// decimals below 1000 (`12,345`, `123.5`, `0.0421`).
pub fn format_value(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_owned();
    }
    let magnitude = value.abs();
    let decimals = if magnitude >= 1000.0 || magnitude == 0.0 {
        0
    } else if magnitude >= 100.0 {
        1
    } else if magnitude >= 10.0 {
        2
    } else {
        // Three significant digits.
        (2 - magnitude.log10().floor() as i32).clamp(0, 9) as usize
    };
    let text = format!("{value:.decimals$}");
    let (sign, text) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction.trim_end_matches('0'))),
        None => (text, None),
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (index, digit) in whole.chars().enumerate() {
        if index > 0 && (whole.len() - index) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    let sign =
        if grouped.chars().all(|c| c == '0' || c == ',') && fraction.is_none_or(str::is_empty) {
            ""
        } else {
            sign
        };
    match fraction {
        Some(fraction) if !fraction.is_empty() => format!("{sign}{grouped}.{fraction}"),
        _ => format!("{sign}{grouped}"),
    }
}

/// A vertical value axis on the left of a chart's body: a nice range
/// with its ticks, and the plot area its labels and its rotated title
/// leave up to `plot_right` (a line chart's and a column chart's alike).
pub struct ValueAxis {
    pub low: f64,
    pub high: f64,
    ticks: Vec<f64>,
    labels: Vec<String>,
    pub plot: Rect,
}

impl ValueAxis {
    /// The axis of values in `low..=high`, labelled in `text`.
    pub fn fit<DB: DrawingBackend>(
        area: &DrawingArea<DB, Shift>,
        frame: &Frame,
        body: Rect,
        plot_right: i32,
        (low, high): (f64, f64),
        text: &TextStyle,
    ) -> Result<Self, DrawError> {
        let (low, high, ticks) = nice_ticks(low, high, 6);
        let labels: Vec<String> = ticks.iter().map(|v| format_value(*v)).collect();
        let mut label_width = 0;
        for label in &labels {
            label_width = label_width.max(text_width(area, label, text)?);
        }
        let axis_title = frame.text * 1.3;
        let plot = Rect {
            left: body.left + axis_title as i32 + label_width + frame.margin / 2,
            top: body.top,
            right: plot_right,
            bottom: body.bottom - (frame.text * 1.8) as i32,
        };
        Ok(ValueAxis {
            low,
            high,
            ticks,
            labels,
            plot,
        })
    }

    /// Where the chart drew its data, for a page's readout.
    pub fn placed(&self) -> Plot {
        Plot {
            left: self.plot.left,
            top: self.plot.top,
            right: self.plot.right,
            bottom: self.plot.bottom,
            low: self.low,
            high: self.high,
        }
    }

    /// The row of `value`.
    pub fn y(&self, value: f64) -> i32 {
        let share = (value - self.low) / (self.high - self.low);
        self.plot.bottom - (share * f64::from(self.plot.height())).round() as i32
    }

    /// The grid lines and labels of the ticks, and `title` turned along
    /// the axis at the body's left edge.
    pub fn draw<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        frame: &Frame,
        body: Rect,
        text: &TextStyle,
        title: &str,
    ) -> Result<(), DrawError> {
        let plot = self.plot;
        let right_aligned = text.clone().pos(Pos::new(HPos::Right, VPos::Center));
        for (value, label) in self.ticks.iter().zip(&self.labels) {
            let at = self.y(*value);
            area.draw(&PathElement::new(
                vec![(plot.left, at), (plot.right, at)],
                frame.theme.grid,
            ))?;
            area.draw_text(label, &right_aligned, (plot.left - frame.margin / 3, at))?;
        }
        let muted = frame.style(frame.text, &frame.theme.muted);
        let title = fit(area, title, &muted, plot.height())?;
        area.draw_text(
            &title,
            &muted
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Top)),
            (body.left, plot.top + plot.height() / 2),
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_read_well() {
        assert_eq!(format_value(0.0), "0");
        assert_eq!(format_value(1234567.89), "1,234,568");
        assert_eq!(format_value(999.94), "999.9");
        assert_eq!(format_value(12.5), "12.5");
        assert_eq!(format_value(0.04213), "0.0421");
        assert_eq!(format_value(-1500.0), "-1,500");
        assert_eq!(format_value(-0.0), "0");
        assert_eq!(format_value(f64::NAN), "–");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let (low, high, ticks) = nice_ticks(0.0, 9.3, 5);
        assert_eq!((low, high), (0.0, 10.0));
        assert_eq!(ticks, vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        let (low, high, ticks) = nice_ticks(-0.3, 0.7, 4);
        assert!(low <= -0.3 && high >= 0.7);
        assert!(ticks.len() >= 3 && ticks.len() <= 8, "{ticks:?}");
        // A flat series still gets an axis.
        let (low, high, _) = nice_ticks(5.0, 5.0, 5);
        assert!(low <= 5.0 && high > 5.0);
        let (low, high, _) = nice_ticks(0.0, 0.0, 5);
        assert_eq!((low, high), (0.0, 1.0));
    }
}
