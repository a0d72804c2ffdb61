//! Every chart drawn into a bitmap, checked where the data says it must
//! show. `CHARTS_OUT=dir` also writes the PNGs, to look at them.

use charts::bitmap::{render_png, render_rgb, render_rgb_themed};
use charts::{
    Bucket, Chart, ColumnChart, ColumnSeries, Figure, LineChart, Series, Share, Theme, Tick, color,
};

const W: u32 = 1600;
const H: u32 = 900;

fn save(name: &str, figure: &Figure) {
    if let Some(dir) = std::env::var_os("CHARTS_OUT") {
        let png = render_png(figure, W, H).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

fn pixel(rgb: &[u8], x: u32, y: u32) -> (u8, u8, u8) {
    let i = (y * W + x) as usize * 3;
    (rgb[i], rgb[i + 1], rgb[i + 2])
}

fn figure(chart: Chart) -> Figure {
    Figure {
        title: "Consumption per point".to_owned(),
        subtitle: "2019-10-30 00:00 – 2019-10-31 00:00 (America/Toronto)".to_owned(),
        chart,
    }
}

/// A day of 5-minute intervals with one spike at the 100th.
fn day_series(name: &str, base: f64) -> Series {
    let buckets = (0..288)
        .map(|i| {
            let v = if i == 100 {
                base * 10.0
            } else {
                base + (i as f64 / 20.0).sin() * base / 4.0
            };
            Bucket {
                start: i * 300,
                end: i * 300 + 300,
                total: v,
                low: v,
                high: v,
                count: 1,
            }
        })
        .collect();
    Series {
        name: name.to_owned(),
        color: usize::from(base < 2.0),
        buckets,
    }
}

fn ticks() -> Vec<Tick> {
    (0..=8)
        .map(|h| Tick {
            at: h * 3 * 3600,
            label: format!("{:02}:00", h * 3),
        })
        .collect()
}

fn line(series: Vec<Series>) -> Figure {
    figure(Chart::Line(LineChart {
        start: 0,
        end: 86_400,
        ticks: ticks(),
        value_label: "per interval".to_owned(),
        legend: true,
        series,
        previous: Vec::new(),
    }))
}

fn colored(p: (u8, u8, u8)) -> bool {
    let (r, g, b) = (i32::from(p.0), i32::from(p.1), i32::from(p.2));
    (r - g).abs() + (g - b).abs() + (r - b).abs() > 60
}

#[test]
fn a_line_chart_shows_its_spike_and_is_not_blank() {
    let fig = line(vec![day_series("Main", 2.0), day_series("Pump", 1.0)]);
    save("line", &fig);
    let rgb = render_rgb(&fig, W, H).unwrap();
    let colored_pixels = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| colored(pixel(&rgb, x, y)))
        .count();
    assert!(colored_pixels > 2_000, "{colored_pixels} coloured pixels");
    // The spike of "Main" (first colour) is the top of the plot: some
    // pixel of the series colour lies in the upper tenth of the image,
    // and only near the spike's x.
    let series = charts::color(0);
    let near = |p: (u8, u8, u8)| {
        (i32::from(p.0) - i32::from(series.0)).abs() < 30
            && (i32::from(p.1) - i32::from(series.1)).abs() < 30
            && (i32::from(p.2) - i32::from(series.2)).abs() < 30
    };
    let top: Vec<u32> = (0..W)
        .filter(|&x| (100..H / 4).any(|y| near(pixel(&rgb, x, y))))
        .collect();
    assert!(!top.is_empty(), "the spike reaches the top");
    let (first, last) = (top[0], *top.last().unwrap());
    assert!(
        last - first < 20,
        "only the spike is that high: x {first}..{last}"
    );
}

#[test]
fn every_kind_draws_something_and_an_empty_window_says_so() {
    let shares: Vec<Share> = (0..60)
        .map(|i| Share {
            name: format!("meter-{i:02}"),
            color: i as usize,
            value: (i * i) as f64 + 1.0,
        })
        .collect();
    for (name, fig) in [
        ("bar", figure(Chart::Bar(shares.clone()))),
        ("pie", figure(Chart::Pie(shares.clone()))),
        ("bar3", figure(Chart::Bar(shares[..3].to_vec()))),
        ("pie3", figure(Chart::Pie(shares[..3].to_vec()))),
        (
            "empty",
            figure(Chart::Empty("No readings in this window".to_owned())),
        ),
    ] {
        save(name, &fig);
        let rgb = render_rgb(&fig, W, H).unwrap();
        let dark = rgb
            .chunks(3)
            .filter(|p| p[0] < 128 && p[1] < 128 && p[2] < 128)
            .count();
        assert!(dark > 500, "{name}: text is drawn ({dark} dark pixels)");
        let coloured = rgb
            .chunks(3)
            .filter(|p| colored((p[0], p[1], p[2])))
            .count();
        if name == "empty" {
            assert_eq!(coloured, 0, "an empty chart has no series colour");
        } else {
            assert!(coloured > 5_000, "{name}: {coloured} coloured pixels");
        }
    }
}

#[test]
fn sizes_are_bounded_and_small_sizes_still_draw() {
    let fig = line(vec![day_series("Main", 2.0)]);
    for (w, h) in [(200, 200), (4000, 200), (350, 1000)] {
        let png = render_png(&fig, w, h).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(png));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (w, h));
    }
    assert!(render_png(&fig, 0, 10).is_err());
    assert!(render_png(&fig, 4001, 10).is_err());
}

#[test]
fn a_dense_flat_series_is_a_whole_line() {
    // 4,000 buckets of the same value: denser than the pixel columns, so
    // drawn as columns; a flat line must still cover the plot's width.
    let buckets: Vec<Bucket> = (0..4000)
        .map(|i| Bucket {
            start: i * 60,
            end: i * 60 + 60,
            total: 1.0,
            low: 1.0,
            high: 1.0,
            count: 1,
        })
        .collect();
    let fig = figure(Chart::Line(LineChart {
        start: 0,
        end: 240_000,
        ticks: Vec::new(),
        value_label: String::new(),
        legend: false,
        series: vec![Series {
            name: "flat".to_owned(),
            color: 0,
            buckets,
        }],
        previous: Vec::new(),
    }));
    save("dense-flat", &fig);
    let rgb = render_rgb(&fig, W, H).unwrap();
    let series = charts::color(0);
    let columns = (0..W)
        .filter(|&x| (0..H).any(|y| pixel(&rgb, x, y) == (series.0, series.1, series.2)))
        .count();
    assert!(
        columns as u32 > W * 8 / 10,
        "the line covers {columns} of {W} columns"
    );
}

/// A week of days, two meters stacked, the previous week marked: each
/// day's column holds the first meter at the bottom and the second above,
/// as tall as the values say; the dark theme draws on a dark background.
#[test]
fn columns_stack_their_series_in_order_and_mark_the_previous_period() {
    let days = [
        "Mon 28", "Tue 29", "Wed 30", "Thu 31", "Fri 1", "Sat 2", "Sun 3",
    ];
    let chart = ColumnChart {
        labels: days.iter().map(|d| (*d).to_owned()).collect(),
        value_label: "kWh per day".to_owned(),
        legend: true,
        series: vec![
            ColumnSeries {
                name: "first".to_owned(),
                color: 0,
                values: vec![Some(10.0); 7],
            },
            ColumnSeries {
                name: "second".to_owned(),
                color: 1,
                values: [
                    Some(10.0),
                    Some(30.0),
                    None,
                    Some(10.0),
                    Some(10.0),
                    Some(10.0),
                    Some(10.0),
                ]
                .to_vec(),
            },
        ],
        previous: vec![Some(35.0); 7],
        previous_name: "the week before".to_owned(),
    };
    let fig = figure(Chart::Columns(chart));
    save("columns", &fig);
    let rgb = render_rgb(&fig, W, H).unwrap();
    let (first, second) = (color(0), color(1));
    let column_heights = |c: charts::RGBColor| -> Vec<usize> {
        // Per pixel column, how many pixels have the colour.
        (0..W)
            .map(|x| {
                (0..H)
                    .filter(|&y| pixel(&rgb, x, y) == (c.0, c.1, c.2))
                    .count()
            })
            .collect()
    };
    let firsts = column_heights(first);
    let seconds = column_heights(second);
    let tallest_second = *seconds.iter().max().unwrap();
    let tallest_first = *firsts.iter().max().unwrap();
    // Tuesday's second meter (30) is three times the first's 10.
    let ratio = tallest_second as f64 / tallest_first as f64;
    assert!(
        (ratio - 3.0).abs() < 0.1,
        "{tallest_second} / {tallest_first}"
    );
    // The second sits above the first: in a column holding both, its
    // lowest pixel is above the first's highest.
    let x = seconds.iter().position(|&n| n == tallest_second).unwrap() as u32;
    let top_of_first = (0..H)
        .find(|&y| pixel(&rgb, x, y) == (first.0, first.1, first.2))
        .unwrap();
    let bottom_of_second = (0..H)
        .rev()
        .find(|&y| pixel(&rgb, x, y) == (second.0, second.1, second.2))
        .unwrap();
    assert!(
        bottom_of_second < top_of_first,
        "{bottom_of_second} < {top_of_first}"
    );
    // Wednesday has no second meter: some columns hold only the first.
    assert!(
        firsts
            .iter()
            .zip(&seconds)
            .any(|(f, s)| *f == tallest_first && *s == 0)
    );
    // The previous week's mark: a 3-pixel bar across each of the 7 columns.
    let ink = Theme::LIGHT.ink;
    let marked = rgb
        .chunks(3)
        .filter(|p| (p[0], p[1], p[2]) == (ink.0, ink.1, ink.2))
        .count();
    assert!(
        marked > 7 * 100 * 3,
        "{marked} pixels of the previous period's marks"
    );

    let dark = render_rgb_themed(&fig, W, H, Theme::DARK).unwrap();
    let background = Theme::DARK.background;
    let corner = (dark[0], dark[1], dark[2]);
    assert_eq!(corner, (background.0, background.1, background.2));
    let light_pixels = dark
        .chunks(3)
        .filter(|p| p[0] > 200 && p[1] > 200 && p[2] > 200)
        .count();
    assert!(
        light_pixels > 300,
        "light text on the dark background: {light_pixels}"
    );
}

/// The period before is drawn beneath, in the point's colour faded, and
/// counts for the value axis: yesterday's spike of 10 is on the chart.
#[test]
fn a_line_chart_shows_the_period_before_faded() {
    let today = day_series("meter", 1.0);
    let mut yesterday = day_series("meter", 1.0);
    for bucket in &mut yesterday.buckets {
        bucket.high *= 2.0;
        bucket.low *= 2.0;
    }
    let Chart::Line(mut chart) = line(vec![today]).chart else {
        unreachable!()
    };
    chart.previous = vec![yesterday];
    let fig = figure(Chart::Line(chart));
    save("line-previous", &fig);
    let rgb = render_rgb(&fig, W, H).unwrap();
    let c = color(1);
    let faded = |a: u8| ((u16::from(a) + 255) / 2) as u8;
    let faded = (faded(c.0), faded(c.1), faded(c.2));
    let count = |wanted: (u8, u8, u8)| {
        rgb.chunks(3)
            .filter(|p| (p[0], p[1], p[2]) == wanted)
            .count()
    };
    assert!(
        count(faded) > 500,
        "the period before: {} pixels",
        count(faded)
    );
    assert!(count((c.0, c.1, c.2)) > 1000, "today");
    // Its faded line is above today's: the top of the faded colour is
    // higher in most columns.
    let top = |wanted: (u8, u8, u8), x: u32| (0..H).find(|&y| pixel(&rgb, x, y) == wanted);
    let above = (0..W)
        .filter(
            |&x| matches!((top(faded, x), top((c.0, c.1, c.2), x)), (Some(a), Some(b)) if a < b),
        )
        .count();
    assert!(above > 500, "{above} columns");
}
