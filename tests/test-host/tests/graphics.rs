//! End-to-end tests of `/graphics` through the real components: PNGs of
//! the asked size, series drawn where the data says, windows, empty data,
//! many points, bad parameters and other tenants' meters, and one golden
//! image per chart type (`UPDATE_GOLDEN=1` rewrites them; look at them;
//! `GRAPHICS_OUT=<dir>` keeps the sizes test's images).

mod common;

use common::*;
use serde_json::{Value as Json, json};

const DAY: i64 = READINGS_START;
/// The colour of the first series (charts::color(0)).
const FIRST: (u8, u8, u8) = (78, 121, 167);
/// The colour of the second point (charts::color(1)): a point keeps its
/// colour in every chart.
const SECOND: (u8, u8, u8) = (242, 142, 43);
/// The "other" slice.
const OTHER: (u8, u8, u8) = (170, 170, 178);

async fn ingest(app: &App, site: &Site, readings: Vec<Json>) {
    common::ingest(app, &site.ingest, readings).await;
}

/// Two days of readings of `meters` meters ([`common::readings`]).
fn readings(meters: usize) -> Vec<Json> {
    common::readings(meters, 2)
}

struct Image {
    width: u32,
    height: u32,
    rgb: Vec<u8>,
}

impl Image {
    fn pixel(&self, x: u32, y: u32) -> (u8, u8, u8) {
        let i = (y * self.width + x) as usize * 3;
        (self.rgb[i], self.rgb[i + 1], self.rgb[i + 2])
    }

    /// Every pixel within 12 of `color` in each channel.
    fn find(&self, color: (u8, u8, u8)) -> Vec<(u32, u32)> {
        let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| {
                let p = self.pixel(x, y);
                near(p.0, color.0) && near(p.1, color.1) && near(p.2, color.2)
            })
            .collect()
    }

    fn dark_pixels(&self) -> usize {
        self.rgb
            .chunks(3)
            .filter(|p| p[0] < 100 && p[1] < 100 && p[2] < 100)
            .count()
    }
}

fn decode(response: &Response) -> Image {
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("image/png"));
    let decoder = png::Decoder::new(std::io::Cursor::new(response.body.clone()));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgb).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    rgb.truncate(info.buffer_size());
    Image {
        width: info.width,
        height: info.height,
        rgb,
    }
}

async fn chart(app: &App, site: &Site, query: &str) -> Image {
    decode(&app.get(&format!("/graphics{query}"), &site.user).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_type_answers_a_png_of_the_asked_size() {
    within(async {
        let app = App::start().await;
        let site = app.site("charts", "charts").await;
        ingest(&app, &site, readings(3)).await;
        let key = Auth::key(&app.api_key(&site.user).await);
        for (query, size, color) in [
            ("", (1600, 900), FIRST),
            ("?type=pie", (1600, 900), FIRST),
            ("?type=bar&width=8&height=4.5", (800, 450), FIRST),
            ("?type=line&width=2&height=2", (200, 200), FIRST),
            ("?type=line&width=40&height=40", (4000, 4000), FIRST),
            ("?meter=meter01&width=12.34", (1234, 900), SECOND),
            ("?type=bar&meter=meter01", (1600, 900), SECOND),
        ] {
            let response = app.get(&format!("/graphics{query}"), &key).await;
            if let Some(dir) = std::env::var_os("GRAPHICS_OUT") {
                let name: String = query.chars().filter(char::is_ascii_alphanumeric).collect();
                std::fs::write(
                    std::path::Path::new(&dir).join(format!("{name}.png")),
                    &response.body,
                )
                .unwrap();
            }
            let image = decode(&response);
            assert_eq!((image.width, image.height), size, "{query}");
            assert!(image.dark_pixels() > 100, "{query}: text is drawn");
            assert!(image.find(color).len() > 50, "{query}: the point is drawn");
            if query.contains("meter") {
                assert!(image.find(FIRST).is_empty(), "{query}: only that point");
            }
            assert_eq!(
                response.header("cache-control"),
                Some("private, max-age=30"),
                "{query}"
            );
        }
        // The default window is the day before the latest reading, years
        // ago: not empty. A window of days long past may be kept longer.
        let response = app
            .get("/graphics?start=2019-10-30&end=2019-10-31", &site.user)
            .await;
        assert_eq!(
            response.header("cache-control"),
            Some("private, max-age=300")
        );
        decode(&response);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_is_drawn_where_the_data_says() {
    within(async {
        let app = App::start().await;
        let site = app.site("peak", "peak").await;
        ingest(&app, &site, readings(1)).await;
        // One local day: the spike at 12:00 is halfway across the plot,
        // and it is the highest point of the series.
        let image = chart(&app, &site, "?meter=meter00&start=2019-10-30").await;
        let series = image.find(FIRST);
        let left = series.iter().map(|p| p.0).min().unwrap();
        let right = series.iter().map(|p| p.0).max().unwrap();
        let top = series.iter().map(|p| p.1).min().unwrap();
        let peak: Vec<u32> = series
            .iter()
            .filter(|p| p.1 <= top + 2)
            .map(|p| p.0)
            .collect();
        let middle = f64::from(left + right) / 2.0;
        for x in &peak {
            assert!(
                (f64::from(*x) - middle).abs() < 0.02 * f64::from(right - left),
                "the peak at x {x} is at noon (x {middle}), series from {left} to {right}"
            );
        }
        // Elsewhere the line is low: 0.1 of a 5.0 spike.
        let flat = series
            .iter()
            .filter(|p| (f64::from(p.0) - middle).abs() > 0.1 * f64::from(right - left))
            .map(|p| p.1)
            .min()
            .unwrap();
        assert!(
            flat > top + (image.height / 2),
            "flat at y {flat}, peak at y {top}"
        );
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_readings_says_so() {
    within(async {
        let app = App::start().await;
        let site = app.site("quiet", "quiet").await;
        // No readings at all, then readings outside the window.
        for (round, query) in [
            (0, "?type=line"),
            (0, "?type=bar"),
            (1, "?start=2020-01-01"),
            (1, "?meter=meter00&start=2020-01-01&end=2020-01-31"),
        ] {
            if round == 1 {
                ingest(&app, &site, readings(1)).await;
            }
            let image = chart(&app, &site, query).await;
            assert!(image.dark_pixels() > 500, "{query}: a message is written");
            assert!(image.find(FIRST).is_empty(), "{query}: no series");
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_points_stay_readable() {
    within(async {
        let app = App::start().await;
        let site = app.site("many", "many").await;
        ingest(&app, &site, readings(60)).await;
        let pie = chart(&app, &site, "?type=pie").await;
        assert!(
            pie.find(OTHER).len() > 1000,
            "the smallest are grouped as other"
        );
        let bar = chart(&app, &site, "?type=bar").await;
        assert!(
            bar.find(OTHER).len() > 100,
            "rows that do not fit are grouped"
        );
        // A line per point would be a thicket: the 20 largest consumers.
        let line = chart(&app, &site, "?type=line").await;
        let rgb = |c: charts::RGBColor| (c.0, c.1, c.2);
        assert!(
            line.find(rgb(charts::color(59))).len() > 100,
            "the largest is drawn"
        );
        assert!(
            line.find(rgb(charts::color(40))).len() > 100,
            "the 20th largest too"
        );
        assert!(line.find(FIRST).is_empty(), "the smallest is not");
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_other_tenants_are_refused() {
    within(async {
        let app = App::start().await;
        let other = app.site("theirs", "theirs").await;
        let site = app.site("mine", "mine").await;
        ingest(&app, &site, readings(1)).await;
        let mut theirs = readings(1);
        for reading in &mut theirs {
            reading["MeterId"] = json!("their-meter");
        }
        ingest(&app, &other, theirs).await;

        // /series answers the same errors: it reads the same parameters.
        for route in ["/graphics", "/series"] {
            for (query, message) in [
                ("?type=donut", "type must be pie, bar or line"),
                ("?width=1", "width must be a number from 2 to 40"),
                ("?width=40.01", "width must be"),
                ("?height=abc", "height must be"),
                ("?height=NaN", "height must be"),
                ("?width=inf", "width must be"),
                ("?width=", "width must be"),
                ("?height=-9", "height must be"),
                ("?start=2019-13-01", "start must be a day"),
                ("?start=2019-10-30&end=yesterday", "end must be a day"),
                ("?start=1990-01-01&end=2019-10-30", "at most 3660"),
                ("?format=png", "format must be json or xml"),
            ] {
                assert_error(
                    &app.get(&format!("{route}{query}"), &site.user).await,
                    400,
                    message,
                );
            }
            assert_error(
                &app.get(&format!("{route}?meter=their-meter"), &site.user)
                    .await,
                404,
                "no metering point named",
            );
            assert_error(
                &app.get(&format!("{route}?meter=nothing"), &site.user).await,
                404,
                "no metering point named",
            );
            assert_error(&app.get(route, &Auth::None).await, 401, "");
            let xml = app
                .get(&format!("{route}?type=donut&format=xml"), &site.user)
                .await;
            assert_eq!(xml.status, 400);
            assert!(
                xml.header("content-type")
                    .unwrap()
                    .starts_with("application/xml")
            );
            assert!(xml.text().contains("type must be pie, bar or line"));
            let post = app.send("POST", route, &site.user.headers(), "").await;
            assert_eq!(post.status, 405, "{}", post.text());
        }
        // Their pie holds their meter only.
        let theirs = chart(&app, &other, "?type=bar").await;
        let mine = chart(&app, &site, "?type=bar").await;
        assert!(theirs.find(FIRST).len() > 100 && mine.find(FIRST).len() > 100);
    })
    .await
}

/// The share of pixels that differ by more than a little.
fn difference(a: &Image, b: &Image) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height));
    let differing = a
        .rgb
        .chunks(3)
        .zip(b.rgb.chunks(3))
        .filter(|(p, q)| p.iter().zip(q.iter()).any(|(x, y)| x.abs_diff(*y) > 24))
        .count();
    differing as f64 / (a.width * a.height) as f64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_chart_type_matches_its_golden_image() {
    within(async {
        let app = App::start().await;
        let site = app.site("golden", "golden").await;
        ingest(&app, &site, readings(5)).await;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
        for (name, query) in [
            ("pie", "?type=pie&start=2019-10-30&width=8&height=4.5"),
            ("bar", "?type=bar&start=2019-10-30&width=8&height=4.5"),
            (
                "line",
                "?type=line&start=2019-10-30&end=2019-10-31&width=8&height=4.5",
            ),
        ] {
            let response = app.get(&format!("/graphics{query}"), &site.user).await;
            let image = decode(&response);
            let path = dir.join(format!("graphics-{name}.png"));
            if std::env::var_os("UPDATE_GOLDEN").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &response.body).unwrap();
                continue;
            }
            let golden = decode(&Response {
                status: 200,
                headers: vec![("content-type".to_owned(), "image/png".to_owned())],
                body: std::fs::read(&path).unwrap_or_else(|e| {
                    panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", path.display())
                }),
            });
            let share = difference(&image, &golden);
            assert!(
                share < 0.002,
                "{name}: {:.3} % of the pixels differ from {}",
                share * 100.0,
                path.display()
            );
        }
    })
    .await
}

/// `/series` answers the figure `/graphics` draws: drawn here with the
/// same chart crate, it is the very PNG `/graphics` sends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn series_is_the_figure_of_graphics_as_json() {
    within(async {
        let app = App::start().await;
        let site = app.site("series", "series").await;
        ingest(&app, &site, readings(3)).await;
        for query in [
            "?type=line&width=8&height=4.5",
            "?meter=meter00&start=2019-10-30&width=6&height=3",
            "?type=bar&width=5&height=3",
            "?type=pie&start=2019-10-30&end=2019-10-31&width=5&height=3",
            "?type=line&start=2020-01-01&width=4&height=2",
        ] {
            let response = app.get(&format!("/series{query}"), &site.user).await;
            assert_eq!(response.status, 200, "{query}: {}", response.text());
            assert_eq!(
                response.header("content-type"),
                Some("application/json"),
                "{query}"
            );
            let png = app.get(&format!("/graphics{query}"), &site.user).await;
            assert_eq!(
                response.header("cache-control"),
                png.header("cache-control"),
                "{query}"
            );
            let figure: charts::Figure = serde_json::from_slice(&response.body).unwrap();
            let image = decode(&png);
            let drawn = charts::bitmap::render_png(&figure, image.width, image.height).unwrap();
            assert!(drawn == png.body, "{query}: the same picture");
        }

        // The shape the browser reads: the spike of meter00 at 12:00 is the
        // highest bucket of its series, in the bucket that holds noon.
        let day = parse(
            &app.get("/series?meter=meter00&start=2019-10-30", &site.user)
                .await,
        );
        assert_eq!(day["title"], "meter00: consumption per interval");
        assert!(
            day["subtitle"]
                .as_str()
                .unwrap()
                .ends_with("(America/Toronto)")
        );
        let chart = &day["chart"];
        assert_eq!(chart["type"], "line");
        let line = &chart["data"];
        assert_eq!(line["start"], DAY);
        assert_eq!(line["end"], DAY + 86_400);
        assert!(line["ticks"].as_array().unwrap().len() >= 3);
        assert_eq!(line["series"].as_array().unwrap().len(), 1);
        let series = &line["series"][0];
        assert_eq!(
            (series["name"].as_str(), series["color"].as_u64()),
            (Some("meter00"), Some(0))
        );
        let buckets = series["buckets"].as_array().unwrap();
        assert!(
            buckets.len() > 100 && buckets.len() <= 1600,
            "{}",
            buckets.len()
        );
        let highest = buckets
            .iter()
            .max_by(|a, b| {
                a["high"]
                    .as_f64()
                    .unwrap()
                    .total_cmp(&b["high"].as_f64().unwrap())
            })
            .unwrap();
        assert!((highest["high"].as_f64().unwrap() - 5.0).abs() < 1e-9);
        let noon = DAY + 12 * 3600;
        assert!(
            highest["start"].as_i64().unwrap() < noon + 300
                && highest["end"].as_i64().unwrap() >= noon
        );

        // Bar and pie: each point's share with its colour.
        let bar = parse(&app.get("/series?type=bar", &site.user).await);
        assert_eq!(bar["chart"]["type"], "bar");
        let mut shares: Vec<(String, u64)> = bar["chart"]["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|share| {
                (
                    share["name"].as_str().unwrap().to_owned(),
                    share["color"].as_u64().unwrap(),
                )
            })
            .collect();
        shares.sort();
        assert_eq!(
            shares,
            [
                ("meter00".to_owned(), 0),
                ("meter01".to_owned(), 1),
                ("meter02".to_owned(), 2)
            ]
        );
        let empty = parse(&app.get("/series?start=2020-01-01", &site.user).await);
        assert_eq!(
            empty["chart"],
            json!({"type": "empty", "data": "No readings in this window"})
        );
        // An API key works as on every read.
        let key = Auth::key(&app.api_key(&site.user).await);
        assert_eq!(app.get("/series", &key).await.status, 200);
    })
    .await
}
