//! A real headless browser for the dashboard's tests and benchmark:
//! Debian's `chromium` driven by `chromedriver` over WebDriver (plain HTTP
//! and JSON, with the test host's own client). `Browser::start` answers
//! `None` with a notice when chromium or chromedriver is not installed
//! (`tests/run` installs them with apt-get as root).

#![allow(dead_code)] // the test and the benchmark use different parts

use crate::common::{parse, request};
use serde_json::{Value as Json, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// WebDriver's key codes.
pub const TAB: &str = "\u{E004}";
pub const ENTER: &str = "\u{E007}";
pub const SPACE: &str = "\u{E00D}";
pub const ESCAPE: &str = "\u{E00C}";
pub const ARROW_LEFT: &str = "\u{E012}";
pub const ARROW_RIGHT: &str = "\u{E014}";

/// A chromedriver with one headless chromium session; both end on drop.
pub struct Browser {
    driver: Child,
    url: String,
    session: String,
}

pub fn find_program(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.is_file())
}

impl Browser {
    /// `None` (with a notice) when chromium or chromedriver is missing.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        let (Some(chromium), Some(chromedriver)) =
            (find_program("chromium"), find_program("chromedriver"))
        else {
            eprintln!(
                "NOTICE: dashboard browser test skipped: chromium and chromedriver are not installed \
                 (apt-get install chromium chromium-driver; tests/run does it as root)"
            );
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut browser = Browser {
            driver,
            url,
            session: String::new(),
        };
        let started = Instant::now();
        loop {
            if let Ok(response) = request(&browser.url, "GET", "/status", &[], Vec::new()).await
                && response.status == 200
                && parse(&response)["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let created = browser
            .command(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": chromium,
                        "args": ["--headless", "--no-sandbox", "--disable-gpu",
                                 "--disable-dev-shm-usage", "--force-device-scale-factor=1",
                                 // No calls home: this network is closed.
                                 "--disable-background-networking", "--disable-component-update",
                                 "--disable-sync", "--no-first-run", "--disable-quic",
                                 format!("--window-size={width},{height}")],
                    },
                    "goog:loggingPrefs": {"browser": "ALL"},
                }}}),
            )
            .await;
        browser.session = created["sessionId"].as_str().unwrap().to_owned();
        Some(browser)
    }

    /// One WebDriver command; answers its `value`.
    pub async fn command(&self, method: &str, path: &str, body: Json) -> Json {
        let path = if path.starts_with("/session") && !self.session.is_empty() {
            format!("/session/{}{}", self.session, &path["/session".len()..])
        } else {
            path.to_owned()
        };
        let body = if method == "GET" {
            Vec::new()
        } else {
            body.to_string().into_bytes()
        };
        let response = request(
            &self.url,
            method,
            &path,
            &[("content-type", "application/json")],
            body,
        )
        .await
        .unwrap();
        let json = parse(&response);
        assert_eq!(response.status, 200, "{method} {path}: {json}");
        json["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.command("POST", "/session/url", json!({ "url": url }))
            .await;
    }

    pub async fn script(&self, script: &str, args: Json) -> Json {
        self.command(
            "POST",
            "/session/execute/sync",
            json!({"script": script, "args": args}),
        )
        .await
    }

    /// Runs `script` (its last argument is the callback) and waits for it.
    pub async fn script_async(&self, script: &str, args: Json) -> Json {
        self.command(
            "POST",
            "/session/execute/async",
            json!({"script": script, "args": args}),
        )
        .await
    }

    pub async fn find(&self, css: &str) -> String {
        let found = self
            .command(
                "POST",
                "/session/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_owned()
    }

    pub async fn click(&self, css: &str) {
        let element = self.find(css).await;
        self.command(
            "POST",
            &format!("/session/element/{element}/click"),
            json!({}),
        )
        .await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.command(
            "POST",
            &format!("/session/element/{element}/clear"),
            json!({}),
        )
        .await;
        self.command(
            "POST",
            &format!("/session/element/{element}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    /// Opens the dashboard at `base` and logs in through its form,
    /// screenshotting the form as `screenshot` when given.
    pub async fn log_in(
        &self,
        base: &str,
        username: &str,
        password: &str,
        screenshot: Option<&str>,
    ) {
        self.goto(&format!("{base}/")).await;
        self.wait_for("!document.getElementById('login').hidden")
            .await;
        if let Some(name) = screenshot {
            self.screenshot(name).await;
        }
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("#login-submit").await;
    }

    /// Presses and releases each key in turn, as a keyboard does (WebDriver
    /// key codes: [`TAB`], [`ENTER`], [`SPACE`], or plain characters).
    pub async fn press(&self, keys: &[&str]) {
        let actions: Vec<Json> = keys
            .iter()
            .flat_map(|key| {
                [
                    json!({"type": "keyDown", "value": key}),
                    json!({"type": "keyUp", "value": key}),
                ]
            })
            .collect();
        self.command(
            "POST",
            "/session/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]}),
        )
        .await;
    }

    /// Moves the mouse pointer to `(x, y)` CSS pixels from the top left of
    /// the element `css` (hovering it).
    pub async fn point_at(&self, css: &str, x: i64, y: i64) {
        let element = self.find(css).await;
        // WebDriver offsets are from the element's centre.
        let size = self
            .script(
                "const r = document.querySelector(arguments[0]).getBoundingClientRect(); return [r.width, r.height];",
                json!([css]),
            )
            .await;
        let (width, height) = (size[0].as_f64().unwrap(), size[1].as_f64().unwrap());
        let origin = json!({ ELEMENT: element });
        self.command(
            "POST",
            "/session/actions",
            json!({"actions": [{"type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
                "actions": [{"type": "pointerMove", "duration": 0, "origin": origin,
                             "x": x - (width / 2.0) as i64, "y": y - (height / 2.0) as i64}]}]}),
        )
        .await;
    }

    /// Emulates the user's colour scheme preference (`"dark"`, `"light"`)
    /// through chromedriver's DevTools passthrough.
    pub async fn prefer_color_scheme(&self, scheme: &str) {
        self.command(
            "POST",
            "/session/goog/cdp/execute",
            json!({"cmd": "Emulation.setEmulatedMedia",
                   "params": {"features": [{"name": "prefers-color-scheme", "value": scheme}]}}),
        )
        .await;
    }

    /// The id of the focused element ("" when it has none).
    pub async fn focused(&self) -> String {
        let id = self
            .script("return document.activeElement.id;", json!([]))
            .await;
        id.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until `condition` (a JS expression) is truthy; answers it.
    pub async fn wait_for(&self, condition: &str) -> Json {
        let started = Instant::now();
        loop {
            let value = self
                .script(&format!("return ({condition}) || null;"), json!([]))
                .await;
            if !value.is_null() && value != false {
                return value;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "waited 30 s for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn screenshot(&self, name: &str) {
        let png = self.command("GET", "/session/screenshot", json!({})).await;
        let dir =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), base64(png.as_str().unwrap())).unwrap();
    }

    /// The canvas `css` as an image (its PNG through `toDataURL`).
    pub async fn canvas(&self, css: &str) -> Image {
        let url = self
            .script(
                "return document.querySelector(arguments[0]).toDataURL('image/png');",
                json!([css]),
            )
            .await;
        let data = url.as_str().unwrap().split_once(',').unwrap().1;
        Image::decode(&base64(data))
    }

    /// Console messages of level SEVERE (errors) since the last call.
    pub async fn console_errors(&self) -> Vec<String> {
        let log = self
            .command("POST", "/session/se/log", json!({"type": "browser"}))
            .await;
        log.as_array()
            .unwrap()
            .iter()
            .filter(|entry| entry["level"] == "SEVERE")
            .map(|entry| entry["message"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (the screenshots and data URLs WebDriver answers).
pub fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|chunk| {
            let mut n = 0u32;
            for (i, digit) in chunk.iter().enumerate() {
                n |= u32::from(*digit) << (18 - 6 * i);
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            bytes.into_iter().take(chunk.len() - 1)
        })
        .collect()
}

pub struct Image {
    pub width: u32,
    pub height: u32,
    /// RGBA
    pub pixels: Vec<u8>,
}

impl Image {
    pub fn decode(png: &[u8]) -> Image {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png.to_vec()));
        decoder.set_transformations(png::Transformations::ALPHA | png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buffer).unwrap();
        buffer.truncate(info.buffer_size());
        let channels = info.color_type.samples();
        let pixels = buffer
            .chunks(channels)
            .flat_map(|p| match channels {
                3 => [p[0], p[1], p[2], 255],
                4 => [p[0], p[1], p[2], p[3]],
                _ => [p[0], p[0], p[0], 255],
            })
            .collect();
        Image {
            width: info.width,
            height: info.height,
            pixels,
        }
    }

    pub fn is(&self, x: u32, y: u32, color: (u8, u8, u8)) -> bool {
        let i = ((y * self.width + x) * 4) as usize;
        let near = |a: u8, b: u8| a.abs_diff(b) <= 12;
        near(self.pixels[i], color.0)
            && near(self.pixels[i + 1], color.1)
            && near(self.pixels[i + 2], color.2)
    }

    pub fn count(&self, color: (u8, u8, u8)) -> usize {
        (0..self.height)
            .flat_map(|y| (0..self.width).map(move |x| (x, y)))
            .filter(|&(x, y)| self.is(x, y, color))
            .count()
    }

    /// Per pixel column, the highest row of `color` (the series' peak).
    pub fn tops(&self, color: (u8, u8, u8)) -> Vec<Option<u32>> {
        (0..self.width)
            .map(|x| (0..self.height).find(|&y| self.is(x, y, color)))
            .collect()
    }
}
