//! The windows the page offers and what each one fetches: the last 24
//! hours and today as demand lines (`/series`), a week and a month as
//! daily columns, a year as monthly columns (`/usage`), and a custom range
//! of days shown as whichever of those fits its length.

use crate::days::Day;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Span {
    Hours24,
    Today,
    Week,
    Month,
    Year,
    Custom,
}

impl Span {
    pub const ALL: [(Span, &'static str); 6] = [
        (Span::Hours24, "span-24h"),
        (Span::Today, "span-today"),
        (Span::Week, "span-week"),
        (Span::Month, "span-month"),
        (Span::Year, "span-year"),
        (Span::Custom, "span-custom"),
    ];
}

/// How a window is drawn.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// Demand per interval over time, from `/series`.
    Line,
    /// Energy per local day, from `/usage`.
    Days,
    /// Energy per local month, from `/usage`.
    Months,
}

impl Shape {
    /// `/usage`'s `interval` for the columns, and for the table's totals.
    pub fn interval(self, span: Span) -> &'static str {
        match (self, span) {
            (Shape::Line, Span::Hours24) => "hour",
            (Shape::Line | Shape::Days, _) => "day",
            (Shape::Months, _) => "month",
        }
    }
}

/// A window resolved to days.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct View {
    pub span: Span,
    pub shape: Shape,
    /// The local days fetched, both included.
    pub first: Day,
    pub last: Day,
    /// The period before, of the same shape, for comparison.
    pub previous: (Day, Day),
}

/// Custom ranges up to this many days are drawn as demand lines (the
/// server's limit for demand is four).
pub const LINE_DAYS: i64 = 3;
/// Up to this many days, as daily columns; longer, monthly.
pub const DAILY_DAYS: i64 = 92;

/// The window `span`, `back` windows before the one holding `anchor` (the
/// day of the latest reading); `custom` is the range a custom window pans
/// from.
pub fn view(span: Span, back: i64, anchor: Day, custom: (Day, Day)) -> View {
    let shifted = |first: Day, last: Day, days: i64| View {
        span,
        shape: Shape::Days,
        first: first.add(-days * back),
        last: last.add(-days * back),
        previous: (first.add(-days * (back + 1)), last.add(-days * (back + 1))),
    };
    // `count` calendar months from `first` (the first of a month), and
    // as many before.
    let months = |first: Day, count: i64, shape: Shape| View {
        span,
        shape,
        first,
        last: first.month_start(count).add(-1),
        previous: (first.month_start(-count), first.add(-1)),
    };
    match span {
        Span::Hours24 => View {
            shape: Shape::Line,
            ..shifted(anchor.add(-1), anchor, 1)
        },
        Span::Today => View {
            shape: Shape::Line,
            ..shifted(anchor, anchor, 1)
        },
        Span::Week => shifted(anchor.add(-6), anchor, 7),
        Span::Month => months(anchor.month_start(-back), 1, Shape::Days),
        Span::Year => months(anchor.month_start(-11 - 12 * back), 12, Shape::Months),
        Span::Custom => {
            let (first, last) = (custom.0.min(custom.1), custom.0.max(custom.1));
            let days = first.until(last) + 1;
            let shape = if days <= LINE_DAYS {
                Shape::Line
            } else if days <= DAILY_DAYS {
                Shape::Days
            } else {
                Shape::Months
            };
            View {
                shape,
                ..shifted(first, last, days)
            }
        }
    }
}

impl View {
    /// `start=…&end=…`.
    pub fn query(&self) -> String {
        format!("start={}&end={}", self.first, self.last)
    }

    /// "2019-10-31 – 2019-11-06", "2019-11-06", "last 24 h".
    pub fn label(&self) -> String {
        if self.span == Span::Hours24 {
            return "the last 24 hours".to_owned();
        }
        if self.first == self.last {
            self.first.to_string()
        } else {
            format!("{} – {}", self.first, self.last)
        }
    }

    /// What the previous period is called.
    pub fn previous_name(&self) -> &'static str {
        match self.span {
            Span::Hours24 | Span::Today => "the day before",
            Span::Week => "the week before",
            Span::Month => "the month before",
            Span::Year => "the year before",
            Span::Custom => "the period before",
        }
    }
}
