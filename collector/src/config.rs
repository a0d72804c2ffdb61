//! `site.toml`: the server, where the ingest token comes from, the spool,
//! the buses and the meters. Loading it loads and validates every register
//! map it names; every error names the file, the line and the field.

use crate::map::{self, FileError, RegisterMap, line_of, toml_error};
use crate::plan::{PlannedRead, plan};
use crate::sunspec;
use ingest_wire::PointAnnouncement;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// The environment variable the token comes from when `site.toml` names
/// neither `token_env` nor `token_file`.
pub const DEFAULT_TOKEN_ENV: &str = "INTELLIMETER_INGEST_TOKEN";

/// A validated site configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    /// Base URL of the API; batches go to `{server}/ingest`.
    pub server: String,
    pub token: TokenSource,
    pub spool: PathBuf,
    /// Pending readings the spool keeps at most; beyond, the oldest go.
    pub spool_max_readings: u64,
    /// Take no reading while the kernel says the clock is not
    /// synchronised (src/clock.rs); `false` for a machine whose clock is
    /// kept right without the kernel's NTP status (a virtual machine whose
    /// host keeps time).
    pub require_clock_sync: bool,
    pub modbus: ModbusSettings,
    pub upload: UploadSettings,
    pub buses: Vec<Bus>,
    pub meters: Vec<Meter>,
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModbusSettings {
    /// Per request.
    pub timeout_ms: u64,
    /// Further attempts after a transport fault that was not a timeout.
    pub retries: u32,
    pub reconnect_min_ms: u64,
    pub reconnect_max_ms: u64,
}

impl Default for ModbusSettings {
    fn default() -> Self {
        ModbusSettings {
            timeout_ms: 1000,
            retries: 1,
            reconnect_min_ms: 1000,
            reconnect_max_ms: 60_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UploadSettings {
    pub batch_readings: usize,
    pub timeout_ms: u64,
    pub retry_min_ms: u64,
    pub retry_max_ms: u64,
}

impl Default for UploadSettings {
    fn default() -> Self {
        UploadSettings {
            batch_readings: 5_000,
            timeout_ms: 30_000,
            retry_min_ms: 1_000,
            retry_max_ms: 300_000,
        }
    }
}

/// Where the ingest token is read from: never `site.toml` itself.
#[derive(Clone, PartialEq, Eq)]
pub enum TokenSource {
    Env(String),
    File(PathBuf),
}

impl fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env(name) => write!(f, "environment variable {name}"),
            TokenSource::File(path) => write!(f, "file {}", path.display()),
        }
    }
}

/// The ingest token. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(…)")
    }
}

impl TokenSource {
    pub fn read(&self) -> Result<Token, String> {
        let token = match self {
            TokenSource::Env(name) => std::env::var(name)
                .map_err(|_| format!("the ingest token: environment variable {name} is not set"))?,
            TokenSource::File(path) => std::fs::read_to_string(path).map_err(|error| {
                format!("the ingest token: cannot read {}: {error}", path.display())
            })?,
        };
        let token = token.trim();
        if token.is_empty() {
            return Err(format!("the ingest token from {self:?} is empty"));
        }
        Ok(Token(token.to_owned()))
    }
}

/// A bus: an RS-485 line behind a serial port, or a Modbus TCP endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Bus {
    pub name: String,
    pub link: Link,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Link {
    /// `host:port`.
    Tcp(String),
    Serial(SerialSettings),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SerialSettings {
    pub device: PathBuf,
    pub baud: u32,
    pub parity: Parity,
    pub data_bits: u8,
    pub stop_bits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl SerialSettings {
    /// Bits of one character on the line: start, data, parity, stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// The silence that separates two RTU frames: 3.5 characters, and a
    /// fixed 1.75 ms above 19,200 baud (Modbus over serial line, 2.5.1.1).
    pub fn inter_frame_gap(&self) -> Duration {
        if self.baud > 19_200 {
            return Duration::from_micros(1750);
        }
        Duration::from_nanos(3_500_000_000 * u64::from(self.bits_per_char()) / u64::from(self.baud))
    }
}

/// A meter, with what the API shows for its point.
#[derive(Debug, Clone)]
pub struct Meter {
    pub id: String,
    pub unit: u8,
    /// Index in [`Config::buses`].
    pub bus: usize,
    pub map: Arc<RegisterMap>,
    pub plan: Vec<PlannedRead>,
    /// `ModbusMap = "sunspec"`: where to find the device's SunSpec model
    /// chain, which takes the place of `plan` (empty then) once found.
    pub sunspec: Option<sunspec::Selection>,
    /// Seconds between readings (`SaveEvery` minutes).
    pub every: i64,
    pub announcement: PointAnnouncement,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    server: String,
    #[serde(default)]
    token: Option<Spanned<toml::Value>>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    token_file: Option<PathBuf>,
    spool: PathBuf,
    #[serde(default = "default_spool_max")]
    spool_max_readings: u64,
    #[serde(default = "default_require_clock_sync")]
    require_clock_sync: bool,
    #[serde(default)]
    maps: Option<PathBuf>,
    #[serde(default)]
    modbus: ModbusSettings,
    #[serde(default)]
    upload: UploadSettings,
    #[serde(default)]
    bus: BTreeMap<String, Spanned<BusFile>>,
    #[serde(default)]
    meter: Vec<Spanned<MeterFile>>,
}

fn default_require_clock_sync() -> bool {
    true
}

/// A year of 5-minute readings of 20 meters.
fn default_spool_max() -> u64 {
    2_102_400
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BusFile {
    #[serde(default)]
    tcp: Option<String>,
    #[serde(default)]
    device: Option<PathBuf>,
    #[serde(default)]
    baud: Option<u32>,
    #[serde(default)]
    parity: Option<String>,
    #[serde(default)]
    data_bits: Option<u8>,
    #[serde(default)]
    stop_bits: Option<u8>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
struct MeterFile {
    MeterId: Spanned<String>,
    ModbusId: Spanned<i64>,
    Port: Spanned<String>,
    #[serde(default)]
    NoPhases: Option<String>,
    #[serde(default)]
    MeterType: Option<String>,
    ModbusMap: Spanned<String>,
    SaveEvery: Spanned<i64>,
    #[serde(default)]
    startAddress: Option<Spanned<i64>>,
}

/// Why a configuration was refused: one or more problems, each naming its
/// file, line and field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub Vec<FileError>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads and validates `site.toml` at `path` and the maps it names.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| {
        ConfigError(vec![FileError {
            file: path.display().to_string(),
            line: 0,
            field: String::new(),
            message: format!("cannot read the configuration: {error}"),
        }])
    })?;
    parse(path, &text)
}

/// Validates the text of `site.toml` found at `path` (maps are looked up
/// next to it, in `maps/`, unless `maps` says where).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let raw: SiteFile =
        toml::from_str(text).map_err(|e| ConfigError(vec![toml_error(&file, text, &e)]))?;
    let mut errors = Vec::new();
    let at = |span: std::ops::Range<usize>, field: &str, message: String| FileError {
        file: file.clone(),
        line: line_of(text, span.start),
        field: field.to_owned(),
        message,
    };
    if let Some(token) = &raw.token {
        return Err(ConfigError(vec![at(
            token.span(),
            "token",
            "the ingest token never goes in site.toml: put it in a file named by token_file \
             (readable by the collector only) or an environment variable named by token_env"
                .to_owned(),
        )]));
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let token = match (raw.token_env, raw.token_file) {
        (Some(_), Some(_)) => {
            errors.push(at(
                0..0,
                "token_file",
                "give token_env or token_file, not both".to_owned(),
            ));
            TokenSource::Env(DEFAULT_TOKEN_ENV.to_owned())
        }
        (Some(env), None) => TokenSource::Env(env),
        (None, Some(file)) => TokenSource::File(base.join(file)),
        (None, None) => TokenSource::Env(DEFAULT_TOKEN_ENV.to_owned()),
    };
    let maps_dir = base.join(raw.maps.unwrap_or_else(|| PathBuf::from("maps")));
    let server = raw.server.trim_end_matches('/').to_owned();
    if !(server.starts_with("https://") || server.starts_with("http://")) {
        errors.push(at(
            0..0,
            "server",
            format!("{server:?} is not an http(s) URL"),
        ));
    }

    // Buses defined by name.
    let mut buses: Vec<Bus> = Vec::new();
    for (name, bus) in &raw.bus {
        match bus_link(name, bus.get_ref()) {
            Ok(link) => buses.push(Bus {
                name: name.clone(),
                link,
            }),
            Err((field, message)) => {
                errors.push(at(bus.span(), &format!("bus.{name}.{field}"), message))
            }
        }
    }

    let mut maps: HashMap<String, Arc<RegisterMap>> = HashMap::new();
    let mut meters = Vec::new();
    let mut units: HashMap<(usize, u8), String> = HashMap::new();
    for (index, meter) in raw.meter.iter().enumerate() {
        let m = meter.get_ref();
        let field = |name: &str| format!("meter[{index}].{name}");
        let id = m.MeterId.get_ref().clone();
        if let Err(why) = ingest_wire::check_point_name(&id) {
            errors.push(at(m.MeterId.span(), &field("MeterId"), why));
            continue;
        }
        if meters.iter().any(|other: &Meter| other.id == id) {
            errors.push(at(
                m.MeterId.span(),
                &field("MeterId"),
                format!("{id:?} is used twice"),
            ));
            continue;
        }
        let every = *m.SaveEvery.get_ref();
        if !(1..=1440).contains(&every) || 1440 % every != 0 {
            errors.push(at(
                m.SaveEvery.span(),
                &field("SaveEvery"),
                format!("{every} minutes does not divide a day (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, … 1440)"),
            ));
            continue;
        }
        // The bus: a [bus.NAME] section, or a serial port such as USB0.
        let port = m.Port.get_ref().clone();
        let bus = match buses.iter().position(|b| b.name == port) {
            Some(bus) => bus,
            None if !port.is_empty() && port.chars().all(|c| c.is_ascii_alphanumeric()) => {
                buses.push(Bus {
                    name: port.clone(),
                    link: Link::Serial(serial_defaults(&port)),
                });
                buses.len() - 1
            }
            None => {
                errors.push(at(
                    m.Port.span(),
                    &field("Port"),
                    format!("no [bus.{port:?}] section and not a serial port name such as USB0"),
                ));
                continue;
            }
        };
        let unit = *m.ModbusId.get_ref();
        let unit_range = match buses[bus].link {
            Link::Serial(_) => 1..=247,
            Link::Tcp(_) => 0..=255,
        };
        if !unit_range.contains(&unit) {
            errors.push(at(
                m.ModbusId.span(),
                &field("ModbusId"),
                format!("{unit} is not a unit id of this bus ({unit_range:?})"),
            ));
            continue;
        }
        let unit = unit as u8;
        if let Some(other) = units.insert((bus, unit), id.clone()) {
            errors.push(at(
                m.ModbusId.span(),
                &field("ModbusId"),
                format!("unit {unit} on bus {port} is also meter {other:?}"),
            ));
            continue;
        }
        let map_name = m.ModbusMap.get_ref().clone();
        let start = m.startAddress.as_ref().map(|s| *s.get_ref());
        // The point as the collector announces it, with its map's unit.
        let announcement = |start_address: Option<i64>, map: &RegisterMap| PointAnnouncement {
            meter_id: id.clone(),
            modbus_id: Some(i64::from(unit)),
            port: Some(port.clone()),
            no_phases: m.NoPhases.clone(),
            meter_type: m.MeterType.clone(),
            modbus_map: Some(map_name.clone()),
            save_every: Some(every),
            start_address,
            unit: value_unit(map),
        };
        if let Some(selection) =
            sunspec::Selection::parse(&map_name, start.and_then(|s| u16::try_from(s).ok()))
        {
            let span = m.startAddress.as_ref().map_or(meter.span(), |s| s.span());
            match (selection, start) {
                (Err(why), _) => errors.push(at(m.ModbusMap.span(), &field("ModbusMap"), why)),
                (Ok(_), Some(start)) if !(0..=65_534).contains(&start) => errors.push(at(
                    span,
                    &field("startAddress"),
                    format!("{start} is not where a SunSpec marker can be (0 to 65534)"),
                )),
                (Ok(selection), _) => {
                    let register_map = sunspec::register_map(&map_name);
                    meters.push(Meter {
                        id: id.clone(),
                        unit,
                        bus,
                        announcement: announcement(start, &register_map),
                        map: Arc::new(register_map),
                        plan: Vec::new(),
                        sunspec: Some(selection),
                        every: every * 60,
                    })
                }
            }
            continue;
        }
        let register_map = match maps.get(&map_name) {
            Some(map) => map.clone(),
            None => match map::load(&maps_dir.join(&map_name)) {
                Ok(map) => {
                    let map = Arc::new(map);
                    maps.insert(map_name.clone(), map.clone());
                    map
                }
                Err(mut error) => {
                    if error.line == 0 {
                        error = at(m.ModbusMap.span(), &field("ModbusMap"), error.message);
                    }
                    errors.push(error);
                    continue;
                }
            },
        };
        let start = start.unwrap_or(0);
        let highest = register_map
            .quantities
            .iter()
            .map(|q| i64::from(q.registers().end))
            .max()
            .unwrap_or(0);
        // Not `start + highest`, which overflows for the largest numbers.
        if start < 0 || start > 65_536 - highest {
            let span = m.startAddress.as_ref().map_or(meter.span(), |s| s.span());
            errors.push(at(
                span,
                &field("startAddress"),
                format!("{start} puts registers of {map_name} beyond 65535"),
            ));
            continue;
        }
        let start = start as u16;
        meters.push(Meter {
            id: id.clone(),
            unit,
            bus,
            announcement: announcement(Some(i64::from(start)), &register_map),
            plan: plan(&register_map, start),
            map: register_map,
            sunspec: None,
            every: every * 60,
        });
    }
    if raw.meter.is_empty() {
        errors.push(at(0..0, "meter", "no [[meter]] is configured".to_owned()));
    }
    let announcements = ingest_wire::Batch {
        points: meters.iter().map(|m| m.announcement.clone()).collect(),
        ..ingest_wire::Batch::default()
    };
    if let Err(error) = ingest_wire::check(&announcements, 0) {
        errors.push(at(
            0..0,
            "meter",
            format!("the announcement would be refused: {error}"),
        ));
    }
    if !errors.is_empty() {
        return Err(ConfigError(errors));
    }
    Ok(Config {
        path: path.to_owned(),
        server,
        token,
        spool: base.join(raw.spool),
        spool_max_readings: raw.spool_max_readings.max(1),
        require_clock_sync: raw.require_clock_sync,
        modbus: raw.modbus,
        upload: UploadSettings {
            batch_readings: raw
                .upload
                .batch_readings
                .clamp(1, ingest_wire::MAX_READINGS_PER_BATCH),
            ..raw.upload
        },
        buses,
        meters,
    })
}

/// A serial line's settings, checked as a `[bus.NAME]` section's are (for
/// `collector scan`); the field and why, when one is not valid.
pub fn serial_settings(
    device: PathBuf,
    baud: u32,
    parity: &str,
    data_bits: u8,
    stop_bits: u8,
) -> Result<SerialSettings, (&'static str, String)> {
    let section = BusFile {
        tcp: None,
        device: Some(device),
        baud: Some(baud),
        parity: Some(parity.to_owned()),
        data_bits: Some(data_bits),
        stop_bits: Some(stop_bits),
    };
    match bus_link("", &section)? {
        Link::Serial(serial) => Ok(serial),
        Link::Tcp(_) => Err(("tcp", "not a serial line".to_owned())),
    }
}

fn serial_defaults(port: &str) -> SerialSettings {
    SerialSettings {
        device: PathBuf::from(format!("/dev/tty{port}")),
        baud: 9600,
        parity: Parity::None,
        data_bits: 8,
        stop_bits: 1,
    }
}

fn bus_link(name: &str, bus: &BusFile) -> Result<Link, (&'static str, String)> {
    if let Some(tcp) = &bus.tcp {
        if bus.device.is_some() || bus.baud.is_some() || bus.parity.is_some() {
            return Err(("tcp", "a TCP bus has no serial settings".to_owned()));
        }
        if !tcp.contains(':') {
            return Err(("tcp", format!("{tcp:?} is not host:port")));
        }
        return Ok(Link::Tcp(tcp.clone()));
    }
    let mut serial = serial_defaults(name);
    if let Some(device) = &bus.device {
        serial.device = device.clone();
    }
    if let Some(baud) = bus.baud {
        if !(300..=115_200).contains(&baud) {
            return Err((
                "baud",
                format!("{baud} is not a serial speed (300 to 115200)"),
            ));
        }
        serial.baud = baud;
    }
    if let Some(parity) = &bus.parity {
        serial.parity = match parity.as_str() {
            "none" => Parity::None,
            "even" => Parity::Even,
            "odd" => Parity::Odd,
            other => return Err(("parity", format!("{other:?} is not none, even or odd"))),
        };
    }
    if let Some(bits) = bus.data_bits {
        if !(7..=8).contains(&bits) {
            return Err(("data_bits", format!("{bits} is not 7 or 8")));
        }
        serial.data_bits = bits;
    }
    if let Some(bits) = bus.stop_bits {
        if !(1..=2).contains(&bits) {
            return Err(("stop_bits", format!("{bits} is not 1 or 2")));
        }
        serial.stop_bits = bits;
    }
    Ok(Link::Serial(serial))
}

impl Config {
    /// The points to announce: every meter's configuration.
    pub fn announcements(&self) -> Vec<PointAnnouncement> {
        self.meters.iter().map(|m| m.announcement.clone()).collect()
    }

    pub fn ingest_url(&self) -> String {
        format!("{}/ingest", self.server)
    }
}

/// The unit of a map's value quantity, as the point's announcement gives
/// it (`kWh`); `None` when the map does not say, or says what the wire
/// would refuse.
fn value_unit(map: &RegisterMap) -> Option<String> {
    let unit = map.quantities.get(map.value)?.unit.trim();
    ingest_wire::check_unit(unit).ok()?;
    Some(unit.to_owned())
}
