//! `collector scan`: which devices answer on a bus, what each is, and the
//! `[[meter]]` blocks that read them (SCAN.md).
//!
//! Each unit id gets one probe (holding registers 40000–40001, where most
//! SunSpec devices keep their marker); an id that does not answer costs
//! that one timeout and nothing more. A device that answers, even with an
//! exception, is identified: by its SunSpec chain, or by the signature of
//! a shipped map (a plausible voltage, 80 to 300 V, where the map keeps
//! its first voltage, and a readable point value). One request at a time,
//! read functions only: nothing is ever written.

use crate::bus::BusReader;
use crate::config::{Bus, Link, ModbusSettings, Parity};
use crate::map::{Decoded, RegisterKind, RegisterMap};
use crate::source::Fault;
use crate::sunspec::{self, SunSpecError};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::RangeInclusive;
use std::time::{Duration, Instant};
use tokio_modbus::ExceptionCode;

/// Where the probe reads: SunSpec's most common marker address.
const PROBE: (u16, u16) = (sunspec::BASES[0], 2);

/// A voltage a meter on a low-voltage grid can show (phase to neutral).
pub const PLAUSIBLE_VOLTS: RangeInclusive<f64> = 80.0..=300.0;

/// This many consecutive ids identified alike are one device that
/// ignores the unit id (some TCP gateways answer for every id).
const SAME_IN_A_ROW: usize = 3;

/// This many consecutive ids whose requests fail on the link stop the
/// scan: the link is gone, not the devices.
const FAILURES_IN_A_ROW: usize = 5;

/// What to scan, and with which maps to recognise devices.
#[derive(Debug, Clone)]
pub struct ScanSettings {
    pub bus: Bus,
    pub ids: RangeInclusive<u8>,
    /// Per request.
    pub timeout: Duration,
    /// The maps whose signatures identify devices.
    pub maps: Vec<RegisterMap>,
}

impl ScanSettings {
    /// The longest the scan can take if no id answers: one timeout (and
    /// the line's inter-frame gap) per id.
    pub fn worst_case_absent(&self) -> Duration {
        let ids = self.ids.clone().count() as u32;
        (self.timeout + self.gap()) * ids
    }

    /// The most requests one device that answers can cost: the probe, the
    /// SunSpec probes and chain, or every map's signature reads.
    pub fn requests_per_device(&self) -> usize {
        let sunspec = sunspec::BASES.len() + sunspec::MAX_MODELS + 2;
        let mut signatures: Vec<(RegisterKind, u16, u16)> = self
            .maps
            .iter()
            .flat_map(|map| {
                Signature::of(map)
                    .map(|s| s.quantities(map))
                    .unwrap_or_default()
            })
            .collect();
        signatures.sort();
        signatures.dedup();
        1 + sunspec.max(sunspec::BASES.len() + signatures.len())
    }

    fn gap(&self) -> Duration {
        match &self.bus.link {
            Link::Serial(serial) => serial.inter_frame_gap(),
            Link::Tcp(_) => Duration::ZERO,
        }
    }
}

/// A shipped map that matched a device.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The map's file name (`ModbusMap`).
    pub map: String,
    /// The map's `meter` (for `MeterType`).
    pub meter: String,
    /// Its voltage quantities as read, in map order (`None`: no value).
    pub volts: Vec<Option<f64>>,
    /// Its point value as read.
    pub value: f64,
}

impl Candidate {
    /// How many of its voltages are plausible: a three-phase map on a
    /// three-phase meter ranks above a single-phase one sharing its L1
    /// register.
    fn plausible(&self) -> usize {
        self.volts
            .iter()
            .flatten()
            .filter(|v| PLAUSIBLE_VOLTS.contains(*v))
            .count()
    }

    fn all_plausible(&self) -> bool {
        self.plausible() == self.volts.len()
    }
}

/// What a unit id turned out to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A SunSpec device; `model` is what `ModbusMap = "sunspec"` reads.
    SunSpec {
        device: sunspec::Device,
        model: Option<sunspec::Model>,
    },
    /// A SunSpec marker, but a chain the collector cannot use.
    BrokenSunSpec(String),
    /// Shipped maps whose signature matches, best first; more than one
    /// when they share a layout.
    Maps(Vec<Candidate>),
    /// It answers, but matches no shipped map: what it answered to the
    /// probe.
    Unknown(String),
    /// A garbled answer, or the link failed while asking it.
    Trouble(String),
}

/// A unit id that answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub unit: u8,
    pub outcome: Outcome,
}

/// What a scan found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanReport {
    /// Every id that answered (or failed on the link), in id order.
    pub found: Vec<Found>,
    /// Ids that answered alike in a row: one device that answers for
    /// every id (the scan stopped there).
    pub answers_every_id: Option<Vec<u8>>,
    /// Why the scan stopped before the end of its range.
    pub stopped: Option<String>,
    /// Ids probed.
    pub probed: usize,
    pub elapsed: Duration,
}

/// Why a scan could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScanError(pub String);

/// Probes every id of `settings.ids` one after the other, calling
/// `progress` with each id that answered as soon as it is identified.
pub async fn scan(
    settings: &ScanSettings,
    mut progress: impl FnMut(&Found),
) -> Result<ScanReport, ScanError> {
    let modbus = ModbusSettings {
        timeout_ms: settings.timeout.as_millis() as u64,
        // A scan reports a broken answer; it does not ask again.
        retries: 0,
        reconnect_min_ms: 0,
        reconnect_max_ms: 0,
    };
    let mut bus = BusReader::standalone(&settings.bus, &modbus);
    bus.connect().await.map_err(|fault| {
        let hint = match settings.bus.link {
            Link::Serial(_) => {
                " (is the collector running and holding the port? stop it first: \
                 systemctl stop intellimeter-collector)"
            }
            Link::Tcp(_) => "",
        };
        ScanError(format!("{fault}{hint}"))
    })?;
    let started = Instant::now();
    let mut report = ScanReport::default();
    let mut fingerprints: Vec<(u8, String)> = Vec::new();
    let mut failures = 0;
    for unit in settings.ids.clone() {
        report.probed += 1;
        let Some(outcome) = identify(&mut bus, unit, &settings.maps).await else {
            fingerprints.clear();
            failures = 0;
            continue;
        };
        let found = Found { unit, outcome };
        progress(&found);
        let trouble = matches!(found.outcome, Outcome::Trouble(_));
        failures = if trouble { failures + 1 } else { 0 };
        let fingerprint = format!("{:?}", found.outcome);
        report.found.push(found);
        if failures >= FAILURES_IN_A_ROW {
            report.stopped = Some(format!(
                "{FAILURES_IN_A_ROW} ids in a row failed on the link; stopped after unit {unit}"
            ));
            break;
        }
        if trouble
            || fingerprints
                .last()
                .is_some_and(|(last, print)| *last + 1 != unit || *print != fingerprint)
        {
            fingerprints.clear();
        }
        if !trouble {
            fingerprints.push((unit, fingerprint));
        }
        if fingerprints.len() >= SAME_IN_A_ROW {
            report.answers_every_id = Some(fingerprints.iter().map(|(unit, _)| *unit).collect());
            report.stopped = Some(format!(
                "units {} answered exactly alike: one device that answers for every unit id",
                ids_text(report.answers_every_id.as_deref().unwrap_or_default())
            ));
            break;
        }
    }
    bus.close();
    report.elapsed = started.elapsed();
    Ok(report)
}

/// What `unit` is; `None` when it does not answer.
async fn identify(bus: &mut BusReader, unit: u8, maps: &[RegisterMap]) -> Option<Outcome> {
    let probe = match bus
        .request(unit, RegisterKind::Holding, PROBE.0, PROBE.1)
        .await
    {
        Err(Fault::Timeout(_)) => return None,
        // A gateway saying that no device answered behind it.
        Ok(Err(ExceptionCode::GatewayTargetDevice | ExceptionCode::GatewayPathUnavailable)) => {
            return None;
        }
        Err(fault) => return Some(Outcome::Trouble(fault.to_string())),
        Ok(answer) => answer,
    };
    match sunspec::discover(&mut bus.unit(unit), &sunspec::BASES).await {
        Ok(device) => {
            let model = device.select(None);
            return Some(Outcome::SunSpec { device, model });
        }
        Err(SunSpecError::Layout(sunspec::LayoutError::NoMarker(_))) => {}
        Err(SunSpecError::Fault(fault)) => return Some(Outcome::Trouble(fault.to_string())),
        Err(error) => return Some(Outcome::BrokenSunSpec(error.to_string())),
    }
    let mut reads = Reads {
        bus,
        unit,
        cache: HashMap::new(),
    };
    let mut candidates = Vec::new();
    for map in maps {
        match reads.candidate(map).await {
            Ok(Some(candidate)) => candidates.push(candidate),
            Ok(None) => {}
            Err(fault) => return Some(Outcome::Trouble(fault.to_string())),
        }
    }
    if candidates.is_empty() {
        let answered = match probe {
            Ok(words) => format!("registers {words:04X?}"),
            Err(exception) => format!("exception {} ({exception})", u8::from(exception)),
        };
        return Some(Outcome::Unknown(format!(
            "holding register {} answered {answered}",
            PROBE.0
        )));
    }
    candidates.sort_by(|a, b| {
        (b.all_plausible(), b.plausible())
            .cmp(&(a.all_plausible(), a.plausible()))
            .then_with(|| a.map.cmp(&b.map))
    });
    Some(Outcome::Maps(candidates))
}

/// Which quantities of a map identify it: its voltages (the first must be
/// plausible) and its point value (must be readable).
struct Signature {
    volts: Vec<usize>,
}

impl Signature {
    fn of(map: &RegisterMap) -> Option<Signature> {
        let volts: Vec<usize> = (0..map.quantities.len())
            .filter(|&q| map.quantities[q].unit == "V")
            .collect();
        (!volts.is_empty()).then_some(Signature { volts })
    }

    /// The reads it takes: `(kind, address, count)`.
    fn quantities(&self, map: &RegisterMap) -> Vec<(RegisterKind, u16, u16)> {
        self.volts
            .iter()
            .chain([&map.value])
            .map(|&q| {
                let q = &map.quantities[q];
                (q.kind, q.address, q.ty.registers())
            })
            .collect()
    }
}

/// One unit's reads, each register range asked for once however many maps
/// share it.
struct Reads<'a> {
    bus: &'a mut BusReader,
    unit: u8,
    cache: HashMap<(RegisterKind, u16, u16), Option<Vec<u16>>>,
}

impl Reads<'_> {
    /// The value of quantity `q` of `map` (`None`: refused or no value).
    async fn value(&mut self, map: &RegisterMap, q: usize) -> Result<Option<f64>, Fault> {
        let quantity = &map.quantities[q];
        let key = (quantity.kind, quantity.address, quantity.ty.registers());
        if !self.cache.contains_key(&key) {
            let answer = self.bus.request(self.unit, key.0, key.1, key.2).await?.ok();
            self.cache.insert(key, answer);
        }
        Ok(match self.cache.get(&key).cloned().flatten() {
            Some(words) => match quantity.value(&words) {
                Decoded::Value(value) => Some(value),
                Decoded::Sentinel | Decoded::NotANumber => None,
            },
            None => None,
        })
    }

    async fn candidate(&mut self, map: &RegisterMap) -> Result<Option<Candidate>, Fault> {
        let Some(signature) = Signature::of(map) else {
            return Ok(None);
        };
        let first = self.value(map, signature.volts[0]).await?;
        if !first.is_some_and(|v| PLAUSIBLE_VOLTS.contains(&v)) {
            return Ok(None);
        }
        let Some(value) = self.value(map, map.value).await? else {
            return Ok(None);
        };
        let mut volts = vec![first];
        for &q in &signature.volts[1..] {
            volts.push(self.value(map, q).await?);
        }
        Ok(Some(Candidate {
            map: map.file.clone(),
            meter: map.meter.clone(),
            volts,
            value,
        }))
    }
}

/// `1, 2, 3`.
fn ids_text(ids: &[u8]) -> String {
    let ids: Vec<String> = ids.iter().map(u8::to_string).collect();
    ids.join(", ")
}

/// `unit 3: Eastron SDM630 (eastron-sdm630.toml), 230.1 V` and the like:
/// one line per id that answered.
pub fn describe(found: &Found) -> String {
    let what = match &found.outcome {
        Outcome::SunSpec { device, model } => {
            let reads = match model.and_then(|m| sunspec::layout(m.id)) {
                Some(layout) => format!("reads model {} ({})", layout.id, layout.description),
                None => "no model the collector reads".to_owned(),
            };
            format!(
                "SunSpec at {}: {}; models {}; {reads}",
                device.base,
                device.identity,
                device.model_ids()
            )
        }
        Outcome::BrokenSunSpec(why) => format!("SunSpec device the collector cannot read: {why}"),
        Outcome::Maps(candidates) => {
            let best = &candidates[0];
            let volts: Vec<String> = best
                .volts
                .iter()
                .map(|v| v.map_or("-".to_owned(), |v| format!("{v:.1}")))
                .collect();
            let mut line = format!(
                "{} ({}): {} V, point value {}",
                best.meter,
                best.map,
                volts.join(" / "),
                best.value
            );
            if candidates.len() > 1 {
                let others: Vec<&str> = candidates[1..].iter().map(|c| c.map.as_str()).collect();
                let _ = write!(
                    line,
                    "; {} shares these registers: check the label",
                    others.join(", ")
                );
            }
            line
        }
        Outcome::Unknown(what) => format!("answers, but matches no map ({what})"),
        Outcome::Trouble(why) => format!("no usable answer: {why}"),
    };
    format!("unit {}: {}", found.unit, one_line(&what))
}

/// Text safe in a TOML comment: no line breaks or other control
/// characters.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A TOML string (quoted, escaped).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// A TOML key: bare when it can be.
fn key(text: &str) -> String {
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        text.to_owned()
    } else {
        quoted(text)
    }
}

/// At most `ingest_wire::MAX_ID_CHARS` characters, as the API takes them.
fn clipped(text: &str) -> String {
    text.chars().take(ingest_wire::MAX_ID_CHARS).collect()
}

/// The `site.toml` text for a scan: a `[bus.NAME]` section and one
/// `[[meter]]` block per device the collector can read, every other
/// finding as a comment. Pasted into a site.toml that has no bus of that
/// name, it loads.
pub fn site_blocks(settings: &ScanSettings, report: &ScanReport) -> String {
    let bus = &settings.bus;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# collector scan: unit ids {}-{}, {} ms per request; {} of {} ids answered in {:.1} s",
        settings.ids.start(),
        settings.ids.end(),
        settings.timeout.as_millis(),
        report.found.len(),
        report.probed,
        report.elapsed.as_secs_f64()
    );
    if let Some(why) = &report.stopped {
        let _ = writeln!(out, "# stopped early: {}", one_line(why));
    }
    let _ = writeln!(out, "[bus.{}]", key(&bus.name));
    match &bus.link {
        Link::Tcp(address) => {
            let _ = writeln!(out, "tcp = {}", quoted(address));
        }
        Link::Serial(serial) => {
            let parity = match serial.parity {
                Parity::None => "none",
                Parity::Even => "even",
                Parity::Odd => "odd",
            };
            let _ = writeln!(
                out,
                "device = {}\nbaud = {}\nparity = \"{parity}\"\ndata_bits = {}\nstop_bits = {}",
                quoted(&serial.device.to_string_lossy()),
                serial.baud,
                serial.data_bits,
                serial.stop_bits
            );
        }
    }
    let found: Vec<&Found> = match &report.answers_every_id {
        // One device, whatever id it is asked as: one block.
        Some(ids) => report
            .found
            .iter()
            .filter(|f| Some(&f.unit) == ids.first())
            .collect(),
        None => report.found.iter().collect(),
    };
    for found in found {
        let _ = writeln!(out, "\n# {}", describe(found));
        let mut block = |meter_type: &str, map: &str, phases: Option<&str>, start: Option<u16>| {
            let _ = writeln!(out, "[[meter]]");
            let _ = writeln!(
                out,
                "MeterId = {}",
                quoted(&format!("{}-{}", bus.name, found.unit))
            );
            let _ = writeln!(out, "ModbusId = {}", found.unit);
            let _ = writeln!(out, "Port = {}", quoted(&bus.name));
            if let Some(phases) = phases {
                let _ = writeln!(out, "NoPhases = {}", quoted(phases));
            }
            let _ = writeln!(out, "MeterType = {}", quoted(&clipped(meter_type)));
            let _ = writeln!(out, "ModbusMap = {}", quoted(map));
            if let Some(start) = start {
                let _ = writeln!(out, "startAddress = {start}");
            }
            let _ = writeln!(out, "SaveEvery = 5");
        };
        match &found.outcome {
            Outcome::SunSpec {
                device,
                model: Some(model),
            } => {
                let layout = sunspec::layout(model.id);
                let name = device
                    .identity
                    .name()
                    .unwrap_or_else(|| "SunSpec device".to_owned());
                block(
                    &name,
                    sunspec::MAP_NAME,
                    layout.map(|l| l.phases),
                    Some(device.base),
                );
                for other in &device.models {
                    if let Some(l) = sunspec::layout(other.id)
                        && other.address != model.address
                    {
                        let _ = writeln!(
                            out,
                            "# for its model {} ({}) instead: ModbusMap = \"{}:{}\"",
                            l.id,
                            l.description,
                            sunspec::MAP_NAME,
                            l.id
                        );
                    }
                }
            }
            Outcome::Maps(candidates) => {
                let best = &candidates[0];
                block(&best.meter, &best.map, None, None);
                for other in &candidates[1..] {
                    let _ = writeln!(
                        out,
                        "# or, if the label says {}: ModbusMap = {}",
                        one_line(&other.meter),
                        quoted(&other.map)
                    );
                }
            }
            _ => {
                let _ = writeln!(out, "# (no [[meter]] block: see above)");
            }
        }
    }
    out
}

/// `1-247` or `7`: the ids to scan; 1–247 on a serial line (0 is
/// broadcast), 0–255 behind TCP.
pub fn parse_ids(text: &str, link: &Link) -> Result<RangeInclusive<u8>, String> {
    let allowed = match link {
        Link::Serial(_) => 1..=247,
        Link::Tcp(_) => 0..=255,
    };
    let number = |n: &str| {
        n.trim()
            .parse::<u16>()
            .ok()
            .filter(|n| allowed.contains(n))
            .map(|n| n as u8)
            .ok_or_else(|| {
                format!(
                    "{n:?} is not a unit id of this bus ({}-{})",
                    allowed.start(),
                    allowed.end()
                )
            })
    };
    let (first, last) = match text.split_once('-') {
        Some((first, last)) => (number(first)?, number(last)?),
        None => (number(text)?, number(text)?),
    };
    if first > last {
        return Err(format!("{text:?}: the first id is above the last"));
    }
    Ok(first..=last)
}

/// A duration as a person reads it: `4 min 7 s`, `850 ms`.
pub fn human(duration: Duration) -> String {
    let ms = duration.as_millis();
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", duration.as_secs_f64()),
        _ => format!("{} min {} s", ms / 60_000, (ms % 60_000) / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SerialSettings;

    fn serial() -> Link {
        Link::Serial(SerialSettings {
            device: "/dev/ttyUSB0".into(),
            baud: 9600,
            parity: Parity::None,
            data_bits: 8,
            stop_bits: 1,
        })
    }

    #[test]
    fn id_ranges() {
        let tcp = Link::Tcp("127.0.0.1:502".into());
        assert_eq!(parse_ids("1-247", &serial()), Ok(1..=247));
        assert_eq!(parse_ids("7", &serial()), Ok(7..=7));
        assert_eq!(parse_ids("0-255", &tcp), Ok(0..=255));
        assert!(parse_ids("0-10", &serial()).unwrap_err().contains("1-247"));
        assert!(parse_ids("248", &serial()).is_err());
        assert!(parse_ids("9-3", &tcp).unwrap_err().contains("above"));
        assert!(parse_ids("x", &tcp).is_err());
    }

    #[test]
    fn the_worst_case_is_one_timeout_and_gap_per_id() {
        let settings = ScanSettings {
            bus: Bus {
                name: "USB0".into(),
                link: serial(),
            },
            ids: 1..=247,
            timeout: Duration::from_millis(100),
            maps: Vec::new(),
        };
        // 3.5 characters of 10 bits at 9600 baud: 3.645 ms.
        let per_id = Duration::from_millis(100) + Duration::from_nanos(3_645_833);
        assert_eq!(settings.worst_case_absent(), per_id * 247);
        assert_eq!(human(settings.worst_case_absent()), "25.6 s");
        assert_eq!(human(Duration::from_secs(247)), "4 min 7 s");
        assert_eq!(
            settings.requests_per_device(),
            1 + sunspec::BASES.len() + sunspec::MAX_MODELS + 2
        );
    }

    #[test]
    fn keys_and_comments_stay_toml() {
        assert_eq!(key("USB0"), "USB0");
        assert_eq!(key("my bus"), "\"my bus\"");
        assert_eq!(one_line("a\nb"), "a b");
        for text in ["plain", "say \"hi\"", "back\\slash", "it's", "Zähler 3"] {
            let table: toml::Table = toml::from_str(&format!("k = {}", quoted(text))).unwrap();
            assert_eq!(table["k"].as_str(), Some(text));
        }
    }
}
