//! SunSpec devices (solar inverters, meters) need no hand-written map: the
//! collector finds the `SunS` marker in their holding registers, walks the
//! chain of models that follows it, and reads the model it supports with
//! the scale factors the device itself gives (SCAN.md, "SunSpec").
//!
//! The layouts below are the SunSpec Alliance's model definitions (models
//! 1, 101–103 and 201–204, integer + scale factor). A model starts with its
//! ID register and its length register L (the count of registers after
//! those two); the chain ends with the ID 0xFFFF. Only functions 03 (read
//! holding registers) is used: nothing is ever written to a device.
//!
//! A SunSpec meter reports the fixed quantities of [`QUANTITIES`] whatever
//! model it speaks, so that its readings look alike to the rest of the
//! collector; the point's value is the lifetime energy in kWh (an
//! inverter's `WH`, a meter's `TotWhImp`, both counted in Wh by the
//! device).

use crate::map::{Quantity, RegisterKind, RegisterMap, ValueType, WordOrder};
use crate::source::{Fault, NoValue};
use std::fmt;
use std::future::Future;
use tokio_modbus::ExceptionCode;

/// What `ModbusMap` says in `site.toml` for a SunSpec device; `sunspec:203`
/// picks a model of the chain by its id.
pub const MAP_NAME: &str = "sunspec";

/// `SunS` in two registers, at the start of the SunSpec block.
pub const MARKER: [u16; 2] = [0x5375, 0x6E53];

/// Where devices put the marker, in the order they are tried: 40000 is by
/// far the most common, 0 and 50000 are the other two the specification
/// names.
pub const BASES: [u16; 3] = [40000, 0, 50000];

/// The model ID that ends the chain.
pub const END: u16 = 0xFFFF;

/// The most models a chain may have before it is taken for one that does
/// not end (real devices have a few dozen at most): discovery costs at
/// most this many requests, plus the marker probes and the common model.
pub const MAX_MODELS: usize = 100;

/// The common model: manufacturer, model, serial number.
pub const COMMON: u16 = 1;

/// A read's answer: the registers, the device's exception, or a fault of
/// the link (the two layers of tokio-modbus).
pub type Answer = Result<Result<Vec<u16>, ExceptionCode>, Fault>;

/// Holding registers of one device: the bus (`crate::bus::UnitRegisters`)
/// in the collector, anything else in tests.
pub trait Registers {
    fn read_holding(&mut self, address: u16, count: u16) -> impl Future<Output = Answer> + Send;
}

/// A read of exactly `count` registers: a shorter or longer answer is a
/// fault of the link, never indexed into.
async fn read_exact<R: Registers>(registers: &mut R, address: u16, count: u16) -> Answer {
    let answer = registers.read_holding(address, count).await?;
    if let Ok(words) = &answer
        && words.len() != usize::from(count)
    {
        return Err(Fault::Link(format!(
            "asked for {count} registers at {address}, got {}",
            words.len()
        )));
    }
    Ok(answer)
}

/// How a point's registers hold its value (SunSpec's point types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointType {
    Uint16,
    Int16,
    Acc16,
    Uint32,
    Int32,
    Acc32,
    /// A scale factor: the power of ten another point is multiplied by.
    Sunssf,
}

impl PointType {
    pub fn registers(self) -> usize {
        match self {
            PointType::Uint16 | PointType::Int16 | PointType::Acc16 | PointType::Sunssf => 1,
            PointType::Uint32 | PointType::Int32 | PointType::Acc32 => 2,
        }
    }
}

/// The number a point holds, or `None` for the type's "not implemented"
/// value: int16 and sunssf 0x8000, uint16 0xFFFF, acc16 and acc32 0, uint32
/// 0xFFFFFFFF, int32 0x80000000. `words` holds at least
/// `ty.registers()` registers, high word first.
pub fn number(words: &[u16], ty: PointType) -> Option<i64> {
    let wide = || (u32::from(words[0]) << 16) | u32::from(words[1]);
    match ty {
        PointType::Uint16 if words[0] == 0xFFFF => None,
        PointType::Uint16 => Some(i64::from(words[0])),
        PointType::Int16 | PointType::Sunssf if words[0] == 0x8000 => None,
        PointType::Int16 | PointType::Sunssf => Some(i64::from(words[0] as i16)),
        PointType::Acc16 if words[0] == 0 => None,
        PointType::Acc16 => Some(i64::from(words[0])),
        PointType::Uint32 if wide() == u32::MAX => None,
        PointType::Uint32 => Some(i64::from(wide())),
        PointType::Int32 if wide() == 0x8000_0000 => None,
        PointType::Int32 => Some(i64::from(wide() as i32)),
        PointType::Acc32 if wide() == 0 => None,
        PointType::Acc32 => Some(i64::from(wide())),
    }
}

/// A string point: two characters a register, padded with NULs (or
/// spaces); `None` when it is all NULs (not implemented). Control
/// characters are dropped: the text ends up in logs and `site.toml`.
pub fn text(words: &[u16]) -> Option<String> {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
    let text: String = String::from_utf8_lossy(&bytes)
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// The largest scale factor the specification allows either way.
const MAX_SCALE_FACTOR: i64 = 10;

/// `raw × 10^exponent`, dividing for a negative exponent so that e.g.
/// 2301 × 10^-1 is the nearest double to 230.1.
fn scaled(raw: i64, exponent: i32) -> f64 {
    let raw = raw as f64;
    if exponent >= 0 {
        raw * 10f64.powi(exponent)
    } else {
        raw / 10f64.powi(-exponent)
    }
}

/// What a SunSpec meter reports, whatever its model: `(name, unit)`. The
/// first is the point's value.
pub const QUANTITIES: [(&str, &str); 8] = [
    ("energy", "kWh"),
    ("export_energy", "kWh"),
    ("power", "W"),
    ("voltage_l1", "V"),
    ("voltage_l2", "V"),
    ("voltage_l3", "V"),
    ("current", "A"),
    ("frequency", "Hz"),
];

/// Energies are counted in Wh by the device and reported in kWh, as the
/// shipped maps do.
const EXPONENT_OF: [i32; 8] = [-3, -3, 0, 0, 0, 0, 0, 0];

/// A point with its scale factor, by offset from the model's ID register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scaled {
    at: usize,
    ty: PointType,
    scale_factor: usize,
}

const fn point(at: usize, ty: PointType, scale_factor: usize) -> Option<Scaled> {
    Some(Scaled {
        at,
        ty,
        scale_factor,
    })
}

/// Models 101, 102 and 103 (inverter: single, split, three phase) share one
/// layout: `A` 2, `PhVphA`–`PhVphC` 10–12, `V_SF` 13, `W` 14, `W_SF` 15,
/// `Hz` 16, `Hz_SF` 17, `WH` 24 (acc32), `WH_SF` 26; L = 50.
const INVERTER: [Option<Scaled>; 8] = [
    point(24, PointType::Acc32, 26),
    None,
    point(14, PointType::Int16, 15),
    point(10, PointType::Uint16, 13),
    point(11, PointType::Uint16, 13),
    point(12, PointType::Uint16, 13),
    point(2, PointType::Uint16, 6),
    point(16, PointType::Uint16, 17),
];

/// Models 201–204 (meter: single, split, wye, delta) share one layout: `A`
/// 2, `A_SF` 6, `PhVphA`–`PhVphC` 8–10, `V_SF` 15, `Hz` 16, `Hz_SF` 17, `W`
/// 18, `W_SF` 22, `TotWhExp` 38, `TotWhImp` 46 (acc32), `TotWh_SF` 54;
/// L = 105.
const METER: [Option<Scaled>; 8] = [
    point(46, PointType::Acc32, 54),
    point(38, PointType::Acc32, 54),
    point(18, PointType::Int16, 22),
    point(8, PointType::Int16, 15),
    point(9, PointType::Int16, 15),
    point(10, PointType::Int16, 15),
    point(2, PointType::Int16, 6),
    point(16, PointType::Int16, 17),
];

/// A model the collector reads its quantities from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub id: u16,
    /// L, as the definition has it.
    pub length: u16,
    pub description: &'static str,
    /// What `NoPhases` says for such a device.
    pub phases: &'static str,
    points: [Option<Scaled>; 8],
}

/// Every model the collector reads, in id order.
pub const LAYOUTS: [Layout; 7] = [
    inverter(101, "inverter, single phase", "1"),
    inverter(102, "inverter, split phase", "2"),
    inverter(103, "inverter, three phase", "3"),
    meter(201, "meter, single phase", "1"),
    meter(202, "meter, split phase", "2"),
    meter(203, "meter, three phase wye", "3"),
    meter(204, "meter, three phase delta", "3"),
];

const fn inverter(id: u16, description: &'static str, phases: &'static str) -> Layout {
    Layout {
        id,
        length: 50,
        description,
        phases,
        points: INVERTER,
    }
}

const fn meter(id: u16, description: &'static str, phases: &'static str) -> Layout {
    Layout {
        id,
        length: 105,
        description,
        phases,
        points: METER,
    }
}

/// The layout of model `id`, when the collector reads it.
pub fn layout(id: u16) -> Option<&'static Layout> {
    LAYOUTS.iter().find(|layout| layout.id == id)
}

/// The common model's L: 66 (with its pad register) or 65 (without, as
/// older devices have it).
const COMMON_LENGTHS: [u16; 2] = [66, 65];

/// The register map a SunSpec meter has in the configuration: the names
/// and units of [`QUANTITIES`], the first the point's value. Its
/// registers are found at discovery, so the addresses here say nothing
/// (and such a meter has no read plan): `crate::bus` reads it through
/// [`read`].
pub fn register_map(name: &str) -> RegisterMap {
    RegisterMap {
        file: name.to_owned(),
        meter: "SunSpec device".to_owned(),
        quantities: QUANTITIES
            .iter()
            .map(|(name, unit)| Quantity {
                name: (*name).to_owned(),
                kind: RegisterKind::Holding,
                address: 0,
                ty: ValueType::U16,
                order: WordOrder::Abcd,
                scale: 1.0,
                offset: 0.0,
                unit: (*unit).to_owned(),
            })
            .collect(),
        value: 0,
        max_gap: 0,
        // Discovery reads a whole model (at most 107 registers) at once.
        max_registers: crate::plan::MAX_REGISTERS_PER_READ,
        read_breaks: Vec::new(),
    }
}

/// How a meter configured with `ModbusMap = "sunspec"` is found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Where to look for the marker, in order: `startAddress`, or
    /// [`BASES`].
    pub bases: Vec<u16>,
    /// The model to read (`sunspec:203`); otherwise the first supported
    /// one in the chain.
    pub model: Option<u16>,
}

impl Selection {
    /// `sunspec` or `sunspec:ID` (ID a model of [`LAYOUTS`]); `None` when
    /// `map` names a map file instead; why not, when it is a SunSpec name
    /// the collector cannot read.
    pub fn parse(map: &str, start_address: Option<u16>) -> Option<Result<Selection, String>> {
        let rest = map.strip_prefix(MAP_NAME)?;
        let model = match rest {
            "" => None,
            _ => {
                let Some(id) = rest.strip_prefix(':') else {
                    return (!rest.contains('.')).then(|| {
                        Err(format!(
                            "{map:?}: say \"sunspec\" or \"sunspec:<model id>\""
                        ))
                    });
                };
                match id.parse::<u16>().ok().and_then(layout) {
                    Some(layout) => Some(layout.id),
                    None => {
                        let known: Vec<String> = LAYOUTS.iter().map(|l| l.id.to_string()).collect();
                        return Some(Err(format!(
                            "{map:?}: the collector reads SunSpec models {}",
                            known.join(", ")
                        )));
                    }
                }
            }
        };
        Some(Ok(Selection {
            bases: start_address.map_or(BASES.to_vec(), |base| vec![base]),
            model,
        }))
    }
}

/// A model found in a device's chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Model {
    pub id: u16,
    /// Of its ID register.
    pub address: u16,
    /// L: the registers after the ID and L registers.
    pub length: u16,
}

/// What the common model says of the device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub version: Option<String>,
    pub serial: Option<String>,
}

impl Identity {
    /// `Fronius Symo 8.2-3-M` (what is known of it), for `MeterType`.
    pub fn name(&self) -> Option<String> {
        let parts: Vec<&str> = [&self.manufacturer, &self.model]
            .into_iter()
            .flatten()
            .map(String::as_str)
            .collect();
        (!parts.is_empty()).then(|| parts.join(" "))
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name().as_deref().unwrap_or("unnamed device"))?;
        if let Some(version) = &self.version {
            write!(f, ", version {version}")?;
        }
        if let Some(serial) = &self.serial {
            write!(f, ", serial {serial}")?;
        }
        Ok(())
    }
}

/// A SunSpec device as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Where its marker is.
    pub base: u16,
    /// Its chain, in order, without the end marker.
    pub models: Vec<Model>,
    /// From the first common model, when the chain starts with one.
    pub identity: Identity,
}

impl Device {
    /// The model to read: `wanted`, or the first in the chain the
    /// collector reads.
    pub fn select(&self, wanted: Option<u16>) -> Option<Model> {
        self.models
            .iter()
            .find(|m| layout(m.id).is_some() && wanted.is_none_or(|id| id == m.id))
            .copied()
    }

    /// `1, 103, 120, 203`.
    pub fn model_ids(&self) -> String {
        let ids: Vec<String> = self.models.iter().map(|m| m.id.to_string()).collect();
        ids.join(", ")
    }
}

/// Why a device's SunSpec block cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// No marker at any of these bases: what each answered.
    NoMarker(Vec<(u16, String)>),
    /// The model at `address` would put the next one past register 65535,
    /// where addresses wrap around to `back_to`, a model already read.
    Loops { address: u16, id: u16, back_to: u16 },
    /// The model at `address` runs past register 65535.
    PastEnd { address: u16, id: u16, length: u16 },
    /// A model the collector reads says an L its definition does not have.
    WrongLength {
        address: u16,
        id: u16,
        length: u16,
        defined: u16,
    },
    /// Where the next model should start, there is none and no end marker.
    NoEnd { address: u16, why: String },
    /// More than [`MAX_MODELS`] models.
    Endless,
    /// The model read every cycle is no longer where discovery found it.
    Changed { address: u16, why: String },
}

impl fmt::Display for LayoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LayoutError::NoMarker(tried) => {
                f.write_str("no SunSpec marker (\"SunS\")")?;
                for (i, (base, answer)) in tried.iter().enumerate() {
                    let sep = if i == 0 { ": " } else { "; " };
                    write!(f, "{sep}at {base}: {answer}")?;
                }
                Ok(())
            }
            LayoutError::Loops {
                address,
                id,
                back_to,
            } => write!(
                f,
                "the SunSpec chain loops: model {id} at {address} leads back to register {back_to}"
            ),
            LayoutError::PastEnd {
                address,
                id,
                length,
            } => write!(
                f,
                "the SunSpec chain runs past register 65535: model {id} at {address} says L = {length}"
            ),
            LayoutError::WrongLength {
                address,
                id,
                length,
                defined,
            } => write!(
                f,
                "SunSpec model {id} at {address} says L = {length}, its definition has {defined}"
            ),
            LayoutError::NoEnd { address, why } => write!(
                f,
                "the SunSpec chain has no end marker (0xFFFF): at {address}, {why}"
            ),
            LayoutError::Endless => write!(
                f,
                "the SunSpec chain has more than {MAX_MODELS} models: taken for one that does not end"
            ),
            LayoutError::Changed { address, why } => write!(
                f,
                "the SunSpec model at {address} changed ({why}): the chain is read again"
            ),
        }
    }
}

impl std::error::Error for LayoutError {}

/// Why discovery or a read gave nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SunSpecError {
    /// The device did not answer, or the link failed.
    Fault(Fault),
    /// The device refused a read the layout needs.
    Exception(ExceptionCode),
    Layout(LayoutError),
}

impl From<Fault> for SunSpecError {
    fn from(fault: Fault) -> Self {
        SunSpecError::Fault(fault)
    }
}

impl From<LayoutError> for SunSpecError {
    fn from(error: LayoutError) -> Self {
        SunSpecError::Layout(error)
    }
}

impl fmt::Display for SunSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SunSpecError::Fault(fault) => fault.fmt(f),
            SunSpecError::Exception(code) => {
                write!(f, "Modbus exception {}, {code}", u8::from(*code))
            }
            SunSpecError::Layout(error) => error.fmt(f),
        }
    }
}

/// Looks for the marker at `bases` (in order), walks the chain after it and
/// reads the common model. Bounded: at most `bases.len()` probes,
/// [`MAX_MODELS`] + 1 chain reads and one common-model read; a device that
/// does not answer stops it at its first timeout.
pub async fn discover<R: Registers>(
    registers: &mut R,
    bases: &[u16],
) -> Result<Device, SunSpecError> {
    let mut tried = Vec::new();
    for &base in bases {
        match read_exact(registers, base, 2).await? {
            Ok(words) if words == MARKER => {
                let models = walk(registers, base).await?;
                let identity = match models.first() {
                    Some(common) if common.id == COMMON => identify(registers, common).await?,
                    _ => Identity::default(),
                };
                return Ok(Device {
                    base,
                    models,
                    identity,
                });
            }
            Ok(words) => tried.push((base, format!("{:04X} {:04X}", words[0], words[1]))),
            Err(exception) => tried.push((base, format!("exception {}", u8::from(exception)))),
        }
    }
    Err(LayoutError::NoMarker(tried).into())
}

/// The chain after the marker at `base`, up to its end marker.
async fn walk<R: Registers>(registers: &mut R, base: u16) -> Result<Vec<Model>, SunSpecError> {
    const SPACE: u32 = 1 << 16;
    let mut models: Vec<Model> = Vec::new();
    // u32: the next address is computed without wrapping around.
    let mut address = u32::from(base) + 2;
    loop {
        if models.len() >= MAX_MODELS {
            return Err(LayoutError::Endless.into());
        }
        let header = match read_exact(registers, address as u16, 2).await? {
            Ok(words) => words,
            Err(exception) => {
                return Err(LayoutError::NoEnd {
                    address: address as u16,
                    why: format!(
                        "the device answers exception {} ({exception})",
                        u8::from(exception)
                    ),
                }
                .into());
            }
        };
        let (id, length) = (header[0], header[1]);
        if id == END {
            return Ok(models);
        }
        if id == 0 {
            return Err(LayoutError::NoEnd {
                address: address as u16,
                why: "model id 0 (an empty register)".to_owned(),
            }
            .into());
        }
        let defined = if id == COMMON {
            (!COMMON_LENGTHS.contains(&length)).then_some(COMMON_LENGTHS[0])
        } else {
            layout(id).and_then(|l| (l.length != length).then_some(l.length))
        };
        if let Some(defined) = defined {
            return Err(LayoutError::WrongLength {
                address: address as u16,
                id,
                length,
                defined,
            }
            .into());
        }
        let next = address + 2 + u32::from(length);
        // The next model's header (or the end marker) needs two registers.
        if next + 2 > SPACE {
            let wrapped = (next % SPACE) as u16;
            let visited = wrapped == base || models.iter().any(|m| m.address == wrapped);
            return Err(if visited {
                LayoutError::Loops {
                    address: address as u16,
                    id,
                    back_to: wrapped,
                }
            } else {
                LayoutError::PastEnd {
                    address: address as u16,
                    id,
                    length,
                }
            }
            .into());
        }
        models.push(Model {
            id,
            address: address as u16,
            length,
        });
        address = next;
    }
}

/// Reads `model` whole (ID, L and every register after them, one request:
/// every model read here fits in 125 registers) and checks that it is
/// still the model discovery found there.
async fn read_model<R: Registers>(
    registers: &mut R,
    model: &Model,
) -> Result<Vec<u16>, SunSpecError> {
    let words = read_exact(registers, model.address, model.length.saturating_add(2))
        .await?
        .map_err(SunSpecError::Exception)?;
    if words[0] != model.id || words[1] != model.length {
        return Err(LayoutError::Changed {
            address: model.address,
            why: format!(
                "model {} with L = {} where model {} with L = {} was",
                words[0], words[1], model.id, model.length
            ),
        }
        .into());
    }
    Ok(words)
}

/// The common model's strings.
async fn identify<R: Registers>(
    registers: &mut R,
    common: &Model,
) -> Result<Identity, SunSpecError> {
    let words = read_model(registers, common).await?;
    let field = |at: usize, len: usize| text(&words[at..at + len]);
    Ok(Identity {
        manufacturer: field(2, 16),
        model: field(18, 16),
        version: field(42, 8),
        serial: field(50, 16),
    })
}

/// Reads `model` (one of [`LAYOUTS`]) once: each of [`QUANTITIES`] as its
/// value × 10^its scale factor, both from the same read, or why it has
/// none (a "not implemented" value or scale factor, or a scale factor
/// beyond ±10: [`NoValue::Sentinel`]; a quantity the model lacks:
/// [`NoValue::NotRead`]).
pub async fn read<R: Registers>(
    registers: &mut R,
    model: &Model,
) -> Result<Vec<Result<f64, NoValue>>, SunSpecError> {
    let Some(layout) = layout(model.id) else {
        return Ok(vec![Err(NoValue::NotRead); QUANTITIES.len()]);
    };
    let words = read_model(registers, model).await?;
    Ok(layout
        .points
        .iter()
        .zip(EXPONENT_OF)
        .map(|(point, exponent)| {
            let point = point.ok_or(NoValue::NotRead)?;
            let raw = number(&words[point.at..], point.ty).ok_or(NoValue::Sentinel)?;
            let scale_factor = number(&words[point.scale_factor..], PointType::Sunssf)
                .filter(|sf| sf.abs() <= MAX_SCALE_FACTOR)
                .ok_or(NoValue::Sentinel)?;
            Ok(scaled(raw, scale_factor as i32 + exponent))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_implemented_values_are_none() {
        use PointType::*;
        assert_eq!(number(&[0xFFFF], Uint16), None);
        assert_eq!(number(&[0xFFFE], Uint16), Some(65534));
        assert_eq!(number(&[0x8000], Int16), None);
        assert_eq!(number(&[0xFFFF], Int16), Some(-1));
        assert_eq!(number(&[0x8000], Sunssf), None);
        assert_eq!(number(&[0xFFFE], Sunssf), Some(-2));
        assert_eq!(number(&[0], Acc16), None);
        assert_eq!(number(&[0, 0], Acc32), None);
        assert_eq!(number(&[0, 1], Acc32), Some(1));
        assert_eq!(number(&[0x0001, 0x0000], Acc32), Some(65536));
        assert_eq!(number(&[0xFFFF, 0xFFFF], Uint32), None);
        assert_eq!(number(&[0xFFFF, 0xFFFE], Uint32), Some(0xFFFF_FFFE));
        assert_eq!(number(&[0x8000, 0], Int32), None);
        assert_eq!(number(&[0xFFFF, 0xFFFF], Int32), Some(-1));
        assert_eq!(text(&[0; 16]), None);
        assert_eq!(
            text(&[0x4672, 0x6F6E, 0x6975, 0x7300, 0, 0]),
            Some("Fronius".to_owned())
        );
        assert_eq!(text(&[0x4142, 0x0A43, 0x2020]), Some("ABC".to_owned()));
    }

    #[test]
    fn scale_factors_divide_rather_than_multiply_by_tenths() {
        assert_eq!(scaled(2301, -1), 230.1);
        assert_eq!(scaled(12_345_678, -3), 12_345.678);
        assert_eq!(scaled(-1234, 2), -123_400.0);
        assert_eq!(scaled(5, 0), 5.0);
    }

    #[test]
    fn selections_from_the_map_name() {
        assert_eq!(Selection::parse("eastron-sdm630.toml", None), None);
        assert_eq!(Selection::parse("sunspec.toml", None), None);
        assert_eq!(
            Selection::parse("sunspec", None),
            Some(Ok(Selection {
                bases: BASES.to_vec(),
                model: None
            }))
        );
        assert_eq!(
            Selection::parse("sunspec:203", Some(0)),
            Some(Ok(Selection {
                bases: vec![0],
                model: Some(203)
            }))
        );
        for bad in ["sunspec:111", "sunspec:x", "sunspecs"] {
            assert!(matches!(Selection::parse(bad, None), Some(Err(_))), "{bad}");
        }
    }

    #[test]
    fn the_quantities_match_both_families_and_fit_their_models() {
        assert_eq!(QUANTITIES.len(), EXPONENT_OF.len());
        for layout in LAYOUTS {
            assert!(2 + usize::from(layout.length) <= 125, "one read");
            for point in layout.points.iter().flatten() {
                assert!(point.at + point.ty.registers() <= 2 + usize::from(layout.length));
                assert!(point.scale_factor < 2 + usize::from(layout.length));
            }
            // The point's value is always there.
            assert!(layout.points[0].is_some());
        }
    }
}
