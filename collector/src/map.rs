//! Register maps (`ModbusMap`): TOML files that say, per quantity, where a
//! meter keeps it and how to decode it, and which quantity is the point's
//! value (its cumulative energy register), and how the meter wants to be
//! read: `max_gap` (unused registers a read may bridge), `max_registers`
//! (its limit per read) and `read_breaks` (addresses a read must not
//! cross); `maps/README.md` describes every field. A map is validated when
//! it is loaded; every error names the file, the line and the field.

use serde::Deserialize;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;

/// The most registers one read may ask for (Modbus application protocol,
/// functions 03 and 04): a map's `max_registers` may only lower it.
pub const MODBUS_MAX_REGISTERS: u16 = 125;

/// Input registers (function 04) or holding registers (function 03).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RegisterKind {
    Holding,
    Input,
}

/// How a quantity's registers hold its number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
}

/// Word and byte order of a multi-register value, named by where the bytes
/// of the big-endian number `ABCD` land in the registers as they come off
/// the wire: `ABCD` big-endian, `CDAB` words swapped (low word first),
/// `BADC` bytes swapped within each word, `DCBA` little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WordOrder {
    Abcd,
    Cdab,
    Badc,
    Dcba,
}

impl ValueType {
    pub const ALL: [ValueType; 8] = [
        ValueType::U16,
        ValueType::I16,
        ValueType::U32,
        ValueType::I32,
        ValueType::U64,
        ValueType::I64,
        ValueType::F32,
        ValueType::F64,
    ];

    pub fn registers(self) -> u16 {
        match self {
            ValueType::U16 | ValueType::I16 => 1,
            ValueType::U32 | ValueType::I32 | ValueType::F32 => 2,
            ValueType::U64 | ValueType::I64 | ValueType::F64 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ValueType::U16 => "u16",
            ValueType::I16 => "i16",
            ValueType::U32 => "u32",
            ValueType::I32 => "i32",
            ValueType::U64 => "u64",
            ValueType::I64 => "i64",
            ValueType::F32 => "f32",
            ValueType::F64 => "f64",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.name() == text)
    }
}

impl WordOrder {
    pub const ALL: [WordOrder; 4] = [
        WordOrder::Abcd,
        WordOrder::Cdab,
        WordOrder::Badc,
        WordOrder::Dcba,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WordOrder::Abcd => "ABCD",
            WordOrder::Cdab => "CDAB",
            WordOrder::Badc => "BADC",
            WordOrder::Dcba => "DCBA",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.name() == text)
    }

    /// Turns the bytes of the registers as read (each word big-endian) into
    /// the number's big-endian bytes, or back: both steps (reversing the
    /// words, swapping the bytes of each word) undo themselves.
    fn permute(self, bytes: &mut [u8]) {
        if matches!(self, WordOrder::Cdab | WordOrder::Dcba) {
            let words = bytes.len() / 2;
            for i in 0..words / 2 {
                let (a, b) = (2 * i, 2 * (words - 1 - i));
                bytes.swap(a, b);
                bytes.swap(a + 1, b + 1);
            }
        }
        if matches!(self, WordOrder::Badc | WordOrder::Dcba) {
            for word in bytes.chunks_mut(2) {
                word.swap(0, 1);
            }
        }
    }
}

/// A number decoded from registers, before scale and offset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decoded {
    Value(f64),
    /// All ones (unsigned, float) or the most negative value (signed): the
    /// meter's "not available".
    Sentinel,
    /// NaN or infinite.
    NotANumber,
}

/// Decodes `words` (exactly `ty.registers()` of them) as `ty` in `order`.
pub fn decode(words: &[u16], ty: ValueType, order: WordOrder) -> Decoded {
    let mut bytes = [0u8; 8];
    let n = usize::from(ty.registers()) * 2;
    for (i, word) in words.iter().enumerate().take(n / 2) {
        bytes[2 * i..2 * i + 2].copy_from_slice(&word.to_be_bytes());
    }
    let bytes = &mut bytes[..n];
    order.permute(bytes);
    if bytes.iter().all(|b| *b == 0xFF)
        && !matches!(ty, ValueType::I16 | ValueType::I32 | ValueType::I64)
    {
        return Decoded::Sentinel;
    }
    let signed_min = bytes[0] == 0x80 && bytes[1..].iter().all(|b| *b == 0);
    let value = match ty {
        ValueType::U16 => f64::from(u16::from_be_bytes([bytes[0], bytes[1]])),
        ValueType::I16 if signed_min => return Decoded::Sentinel,
        ValueType::I16 => f64::from(i16::from_be_bytes([bytes[0], bytes[1]])),
        ValueType::U32 => f64::from(u32::from_be_bytes(bytes.try_into().unwrap())),
        ValueType::I32 if signed_min => return Decoded::Sentinel,
        ValueType::I32 => f64::from(i32::from_be_bytes(bytes.try_into().unwrap())),
        ValueType::U64 => u64::from_be_bytes(bytes.try_into().unwrap()) as f64,
        ValueType::I64 if signed_min => return Decoded::Sentinel,
        ValueType::I64 => i64::from_be_bytes(bytes.try_into().unwrap()) as f64,
        ValueType::F32 => f64::from(f32::from_be_bytes(bytes.try_into().unwrap())),
        ValueType::F64 => f64::from_be_bytes(bytes.try_into().unwrap()),
    };
    if value.is_finite() {
        Decoded::Value(value)
    } else {
        Decoded::NotANumber
    }
}

/// The registers that hold `value` as `ty` in `order` (what a meter would
/// send): the inverse of [`decode`]. Integers are rounded toward zero.
pub fn encode(value: f64, ty: ValueType, order: WordOrder) -> Vec<u16> {
    let mut bytes: Vec<u8> = match ty {
        ValueType::U16 => (value as u16).to_be_bytes().to_vec(),
        ValueType::I16 => (value as i16).to_be_bytes().to_vec(),
        ValueType::U32 => (value as u32).to_be_bytes().to_vec(),
        ValueType::I32 => (value as i32).to_be_bytes().to_vec(),
        ValueType::U64 => (value as u64).to_be_bytes().to_vec(),
        ValueType::I64 => (value as i64).to_be_bytes().to_vec(),
        ValueType::F32 => (value as f32).to_be_bytes().to_vec(),
        ValueType::F64 => value.to_be_bytes().to_vec(),
    };
    order.permute(&mut bytes);
    bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

/// One quantity of a map.
#[derive(Debug, Clone, PartialEq)]
pub struct Quantity {
    pub name: String,
    pub kind: RegisterKind,
    /// Relative to the meter's `startAddress`.
    pub address: u16,
    pub ty: ValueType,
    pub order: WordOrder,
    pub scale: f64,
    pub offset: f64,
    pub unit: String,
}

impl Quantity {
    pub fn registers(&self) -> Range<u32> {
        let start = u32::from(self.address);
        start..start + u32::from(self.ty.registers())
    }

    /// The engineering value of the quantity's registers (scale and offset
    /// applied), or why they hold none: a sentinel, NaN or infinity.
    pub fn value(&self, words: &[u16]) -> Decoded {
        match decode(words, self.ty, self.order) {
            Decoded::Value(raw) => {
                let value = raw * self.scale + self.offset;
                if value.is_finite() {
                    Decoded::Value(value)
                } else {
                    Decoded::NotANumber
                }
            }
            other => other,
        }
    }
}

/// A validated register map.
#[derive(Debug, Clone, PartialEq)]
pub struct RegisterMap {
    /// The file's name, as meters name it (`ModbusMap`).
    pub file: String,
    pub meter: String,
    pub quantities: Vec<Quantity>,
    /// Index in `quantities` of the point's value (cumulative energy).
    pub value: usize,
    /// Unused registers a read may bridge to merge two reads.
    pub max_gap: u16,
    /// The most registers the meter answers in one read: Modbus' own 125
    /// unless its manual names fewer (`max_registers`).
    pub max_registers: u16,
    /// Addresses a read never crosses: a read that holds register
    /// `break - 1` never holds register `break` (`read_breaks`), for meters
    /// that refuse a read spanning two of their register blocks.
    pub read_breaks: Vec<u16>,
}

impl RegisterMap {
    /// Whether one read may hold the registers `start..end` (relative to
    /// the meter's `startAddress`): within `max_registers`, across no break.
    pub fn may_read_together(&self, start: u32, end: u32) -> bool {
        end - start <= u32::from(self.max_registers)
            && !self
                .read_breaks
                .iter()
                .any(|&b| start < u32::from(b) && u32::from(b) < end)
    }
}

/// A problem in a file, at a line, with a field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}:{}: {}", self.file, self.line, self.message)
        } else {
            write!(
                f,
                "{}:{}: {}: {}",
                self.file, self.line, self.field, self.message
            )
        }
    }
}

impl std::error::Error for FileError {}

/// 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A TOML parse error as a [`FileError`] (toml names the field in its
/// message when it can).
pub fn toml_error(file: &str, text: &str, error: &toml::de::Error) -> FileError {
    FileError {
        file: file.to_owned(),
        line: error.span().map_or(1, |span| line_of(text, span.start)),
        field: String::new(),
        message: error.message().trim().to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    meter: String,
    value: Spanned<String>,
    #[serde(default = "default_gap")]
    max_gap: u16,
    #[serde(default)]
    max_registers: Option<Spanned<i64>>,
    #[serde(default)]
    read_breaks: Option<Spanned<Vec<Spanned<i64>>>>,
    #[serde(default)]
    quantity: Vec<QuantityFile>,
}

fn default_gap() -> u16 {
    10
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuantityFile {
    name: Spanned<String>,
    kind: Spanned<String>,
    address: Spanned<i64>,
    #[serde(rename = "type")]
    ty: Spanned<String>,
    #[serde(default)]
    order: Option<Spanned<String>>,
    #[serde(default)]
    scale: Option<Spanned<f64>>,
    #[serde(default)]
    offset: Option<Spanned<f64>>,
    #[serde(default)]
    unit: String,
}

/// Reads and validates the map file at `path`.
pub fn load(path: &Path) -> Result<RegisterMap, FileError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|error| FileError {
        file: file.clone(),
        line: 0,
        field: String::new(),
        message: format!("cannot read the register map: {error}"),
    })?;
    let name = path
        .file_name()
        .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
    parse(&file, &name, &text)
}

/// Parses and validates a map's text; `file` names it in errors, `name` is
/// what meters call it.
pub fn parse(file: &str, name: &str, text: &str) -> Result<RegisterMap, FileError> {
    let raw: MapFile = toml::from_str(text).map_err(|e| toml_error(file, text, &e))?;
    let at = |span: Range<usize>, field: String, message: String| FileError {
        file: file.to_owned(),
        line: line_of(text, span.start),
        field,
        message,
    };
    let mut quantities: Vec<Quantity> = Vec::with_capacity(raw.quantity.len());
    let mut spans = Vec::with_capacity(raw.quantity.len());
    for (index, q) in raw.quantity.iter().enumerate() {
        let field = |name: &str| format!("quantity[{index}].{name}");
        let kind = match q.kind.get_ref().as_str() {
            "holding" => RegisterKind::Holding,
            "input" => RegisterKind::Input,
            other => {
                return Err(at(
                    q.kind.span(),
                    field("kind"),
                    format!("unknown register kind {other:?} (holding or input)"),
                ));
            }
        };
        let ty = ValueType::parse(q.ty.get_ref()).ok_or_else(|| {
            at(
                q.ty.span(),
                field("type"),
                format!(
                    "unknown type {:?} (u16, i16, u32, i32, u64, i64, f32 or f64)",
                    q.ty.get_ref()
                ),
            )
        })?;
        let order = match &q.order {
            None => WordOrder::Abcd,
            Some(order) => WordOrder::parse(order.get_ref()).ok_or_else(|| {
                at(
                    order.span(),
                    field("order"),
                    format!(
                        "unknown word order {:?} (ABCD, CDAB, BADC or DCBA)",
                        order.get_ref()
                    ),
                )
            })?,
        };
        let address = *q.address.get_ref();
        let registers = i64::from(ty.registers());
        // Not `address + registers`, which overflows for the largest ids.
        if address < 0 || address > 65_536 - registers {
            return Err(at(
                q.address.span(),
                field("address"),
                format!(
                    "{address} is out of range: a {} needs registers {address} to {} of 0 to 65535",
                    ty.name(),
                    i128::from(address) + i128::from(registers) - 1
                ),
            ));
        }
        if quantities
            .iter()
            .any(|other| other.name == *q.name.get_ref())
        {
            return Err(at(
                q.name.span(),
                field("name"),
                format!("{:?} is defined twice", q.name.get_ref()),
            ));
        }
        let scale = q.scale.as_ref().map_or(1.0, |s| *s.get_ref());
        // Positive: a register that counts up must read as a quantity that
        // counts up; zero would make every reading 0.
        if !(scale.is_finite() && scale > 0.0) {
            let span = q.scale.as_ref().map_or(q.name.span(), |s| s.span());
            return Err(at(
                span,
                field("scale"),
                format!("{scale} is not a scale: it must be a finite number above 0"),
            ));
        }
        let offset = q.offset.as_ref().map_or(0.0, |o| *o.get_ref());
        if !offset.is_finite() {
            let span = q.offset.as_ref().map_or(q.name.span(), |o| o.span());
            return Err(at(
                span,
                field("offset"),
                format!("{offset} is not an offset: it must be a finite number"),
            ));
        }
        quantities.push(Quantity {
            name: q.name.get_ref().clone(),
            kind,
            address: address as u16,
            ty,
            order,
            scale,
            offset,
            unit: q.unit.clone(),
        });
        spans.push(q.address.span());
    }
    // Overlaps: two quantities of one kind sharing a register.
    let mut by_address: Vec<usize> = (0..quantities.len()).collect();
    by_address.sort_by_key(|&i| (quantities[i].kind, quantities[i].address));
    for pair in by_address.windows(2) {
        let (a, b) = (&quantities[pair[0]], &quantities[pair[1]]);
        if a.kind == b.kind && b.registers().start < a.registers().end {
            return Err(at(
                spans[pair[1]].clone(),
                format!("quantity[{}].address", pair[1]),
                format!(
                    "{:?} (registers {}..{}) overlaps {:?} (registers {}..{})",
                    b.name,
                    b.registers().start,
                    b.registers().end,
                    a.name,
                    a.registers().start,
                    a.registers().end
                ),
            ));
        }
    }
    let value = quantities
        .iter()
        .position(|q| q.name == *raw.value.get_ref())
        .ok_or_else(|| {
            at(
                raw.value.span(),
                "value".to_owned(),
                format!("no quantity is named {:?}", raw.value.get_ref()),
            )
        })?;
    let max_registers = match &raw.max_registers {
        None => MODBUS_MAX_REGISTERS,
        Some(limit) => {
            let n = *limit.get_ref();
            if !(1..=i64::from(MODBUS_MAX_REGISTERS)).contains(&n) {
                return Err(at(
                    limit.span(),
                    "max_registers".to_owned(),
                    format!(
                        "{n} registers per read is not possible: Modbus allows 1 to {MODBUS_MAX_REGISTERS}"
                    ),
                ));
            }
            n as u16
        }
    };
    if let Some(q) = quantities
        .iter()
        .zip(&spans)
        .find(|(q, _)| q.ty.registers() > max_registers)
    {
        return Err(at(
            q.1.clone(),
            "max_registers".to_owned(),
            format!(
                "{:?} ({}) needs {} registers, more than max_registers = {max_registers}",
                q.0.name,
                q.0.ty.name(),
                q.0.ty.registers()
            ),
        ));
    }
    let mut read_breaks = Vec::new();
    for (index, at_break) in raw
        .read_breaks
        .as_ref()
        .map_or(&[][..], |b| b.get_ref().as_slice())
        .iter()
        .enumerate()
    {
        let address = *at_break.get_ref();
        if !(1..=65_535).contains(&address) {
            return Err(at(
                at_break.span(),
                format!("read_breaks[{index}]"),
                format!("{address} is not a register a read could cross into (1 to 65535)"),
            ));
        }
        let address = address as u16;
        if let Some(q) = quantities.iter().find(|q| {
            q.registers().start < u32::from(address) && u32::from(address) < q.registers().end
        }) {
            return Err(at(
                at_break.span(),
                format!("read_breaks[{index}]"),
                format!(
                    "{address} splits {:?} (registers {}..{}), which is read whole",
                    q.name,
                    q.registers().start,
                    q.registers().end
                ),
            ));
        }
        read_breaks.push(address);
    }
    read_breaks.sort_unstable();
    read_breaks.dedup();
    Ok(RegisterMap {
        file: name.to_owned(),
        meter: raw.meter,
        quantities,
        value,
        max_gap: raw.max_gap,
        max_registers,
        read_breaks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_type_and_order_round_trips() {
        for ty in ValueType::ALL {
            for order in WordOrder::ALL {
                for value in [0.0f64, 1.0, 1234.0, -42.0, 65_000.5] {
                    let signed = matches!(ty, ValueType::I16 | ValueType::I32 | ValueType::I64);
                    let float = matches!(ty, ValueType::F32 | ValueType::F64);
                    if value < 0.0 && !signed && !float {
                        continue;
                    }
                    let expected = if float { value } else { value.trunc() };
                    let expected = match ty {
                        ValueType::I16 => expected.clamp(-32768.0, 32767.0),
                        _ => expected,
                    };
                    let words = encode(value, ty, order);
                    assert_eq!(words.len(), usize::from(ty.registers()));
                    assert_eq!(
                        decode(&words, ty, order),
                        Decoded::Value(expected),
                        "{ty:?} {order:?} {value}"
                    );
                }
            }
        }
    }

    #[test]
    fn orders_place_bytes_as_named() {
        // 0x11223344 as a u32.
        let value = f64::from(0x1122_3344u32);
        assert_eq!(
            encode(value, ValueType::U32, WordOrder::Abcd),
            [0x1122, 0x3344]
        );
        assert_eq!(
            encode(value, ValueType::U32, WordOrder::Cdab),
            [0x3344, 0x1122]
        );
        assert_eq!(
            encode(value, ValueType::U32, WordOrder::Badc),
            [0x2211, 0x4433]
        );
        assert_eq!(
            encode(value, ValueType::U32, WordOrder::Dcba),
            [0x4433, 0x2211]
        );
        // 0x1122334455667788 as a u64, words swapped.
        assert_eq!(
            encode(
                0x1122_3344_5566_0000u64 as f64,
                ValueType::U64,
                WordOrder::Cdab
            ),
            [0x0000, 0x5566, 0x3344, 0x1122],
        );
        // The SDM630's f32 ABCD: 230.0 V.
        assert_eq!(
            encode(230.0, ValueType::F32, WordOrder::Abcd),
            [0x4366, 0x0000]
        );
    }

    #[test]
    fn sentinels_and_nan_are_not_values() {
        assert_eq!(
            decode(&[0xFFFF, 0xFFFF], ValueType::F32, WordOrder::Abcd),
            Decoded::Sentinel
        );
        assert_eq!(
            decode(&[0xFFFF, 0xFFFF], ValueType::U32, WordOrder::Cdab),
            Decoded::Sentinel
        );
        assert_eq!(
            decode(&[0xFFFF], ValueType::U16, WordOrder::Abcd),
            Decoded::Sentinel
        );
        assert_eq!(
            decode(&[0x8000, 0], ValueType::I32, WordOrder::Abcd),
            Decoded::Sentinel
        );
        assert_eq!(
            decode(&[0, 0x8000], ValueType::I32, WordOrder::Cdab),
            Decoded::Sentinel
        );
        assert_eq!(
            decode(&[0xFFFF], ValueType::I16, WordOrder::Abcd),
            Decoded::Value(-1.0)
        );
        assert_eq!(
            decode(&[0x7FC0, 0], ValueType::F32, WordOrder::Abcd),
            Decoded::NotANumber
        );
        assert_eq!(
            decode(&[0x7F80, 0], ValueType::F32, WordOrder::Abcd),
            Decoded::NotANumber
        );
    }
}
