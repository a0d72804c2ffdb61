//! SunSpec register images for the tests and the benchmark, written from
//! the SunSpec Alliance's model definitions (models 1, 103 and 203) on
//! their own, not from the collector's tables, so that a wrong offset in
//! either shows.

#![allow(dead_code)] // each test binary uses a different subset

use collector::map::RegisterKind;
use collector::simulator::Device;

/// A SunSpec block: the `SunS` marker at `base`, then models.
pub struct Chain {
    pub base: u16,
    pub words: Vec<u16>,
}

impl Chain {
    pub fn new(base: u16) -> Chain {
        Chain {
            base,
            words: vec![0x5375, 0x6E53],
        }
    }

    /// A model: its ID, L (the body's length), the body.
    pub fn model(mut self, id: u16, body: &[u16]) -> Chain {
        self.words.push(id);
        self.words.push(body.len() as u16);
        self.words.extend_from_slice(body);
        self
    }

    /// A model header saying L = `length`, with no body written.
    pub fn header(mut self, id: u16, length: u16) -> Chain {
        self.words.extend_from_slice(&[id, length]);
        self
    }

    /// The end marker.
    pub fn end(self) -> Chain {
        self.header(0xFFFF, 0)
    }

    /// The address of the next register to be written.
    pub fn next_address(&self) -> u32 {
        u32::from(self.base) + self.words.len() as u32
    }

    pub fn load(&self, device: &mut Device) {
        device.set(RegisterKind::Holding, self.base, &self.words);
    }
}

/// `text` in `registers` registers, two characters each, NUL padded.
pub fn string(text: &str, registers: usize) -> Vec<u16> {
    let mut bytes = text.as_bytes().to_vec();
    bytes.resize(registers * 2, 0);
    bytes
        .chunks(2)
        .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
        .collect()
}

/// The common model's body (L = 66): Mn 16, Md 16, Opt 8, Vr 8, SN 16,
/// DA 1, Pad 1. Opt is left all NULs (not implemented).
pub fn common(manufacturer: &str, model: &str, version: &str, serial: &str) -> Vec<u16> {
    let mut body = string(manufacturer, 16);
    body.extend(string(model, 16));
    body.extend(string("", 8));
    body.extend(string(version, 8));
    body.extend(string(serial, 16));
    body.push(1); // DA
    body.push(0x8000); // Pad
    assert_eq!(body.len(), 66);
    body
}

fn acc32(value: u32) -> [u16; 2] {
    [(value >> 16) as u16, value as u16]
}

/// An inverter model body (101–103, L = 50). Offsets are the definition's
/// (from the ID register) less 2.
pub struct Inverter {
    pub amps: u16,
    pub amps_sf: i16,
    pub volts: [u16; 3],
    pub volts_sf: i16,
    pub watts: i16,
    pub watts_sf: i16,
    pub hertz: u16,
    pub hertz_sf: i16,
    pub watt_hours: u32,
    pub watt_hours_sf: i16,
}

impl Inverter {
    pub fn body(&self) -> Vec<u16> {
        let mut body = vec![0u16; 50];
        body[0] = self.amps; // A @2
        body[4] = self.amps_sf as u16; // A_SF @6
        body[8..11].copy_from_slice(&self.volts); // PhVphA..C @10..12
        body[11] = self.volts_sf as u16; // V_SF @13
        body[12] = self.watts as u16; // W @14
        body[13] = self.watts_sf as u16; // W_SF @15
        body[14] = self.hertz; // Hz @16
        body[15] = self.hertz_sf as u16; // Hz_SF @17
        body[22..24].copy_from_slice(&acc32(self.watt_hours)); // WH @24
        body[24] = self.watt_hours_sf as u16; // WH_SF @26
        body[36] = 4; // St @38: MPPT
        body
    }
}

/// A meter model body (201–204, L = 105).
pub struct Meter {
    pub amps: i16,
    pub amps_sf: i16,
    pub volts: [i16; 3],
    pub volts_sf: i16,
    pub hertz: i16,
    pub hertz_sf: i16,
    pub watts: i16,
    pub watts_sf: i16,
    pub exported_wh: u32,
    pub imported_wh: u32,
    pub wh_sf: i16,
}

impl Meter {
    pub fn body(&self) -> Vec<u16> {
        let mut body = vec![0u16; 105];
        body[0] = self.amps as u16; // A @2
        body[4] = self.amps_sf as u16; // A_SF @6
        for (i, v) in self.volts.iter().enumerate() {
            body[6 + i] = *v as u16; // PhVphA..C @8..10
        }
        body[13] = self.volts_sf as u16; // V_SF @15
        body[14] = self.hertz as u16; // Hz @16
        body[15] = self.hertz_sf as u16; // Hz_SF @17
        body[16] = self.watts as u16; // W @18
        body[20] = self.watts_sf as u16; // W_SF @22
        body[36..38].copy_from_slice(&acc32(self.exported_wh)); // TotWhExp @38
        body[44..46].copy_from_slice(&acc32(self.imported_wh)); // TotWhImp @46
        body[52] = self.wh_sf as u16; // TotWh_SF @54
        body
    }
}

/// A three-phase inverter with a few points not implemented: PhVphB
/// (uint16 0xFFFF).
pub fn inverter() -> Inverter {
    Inverter {
        amps: 1234,
        amps_sf: -2,
        volts: [2301, 0xFFFF, 2299],
        volts_sf: -1,
        watts: 5000,
        watts_sf: 1,
        hertz: 5002,
        hertz_sf: -2,
        watt_hours: 12_345_678,
        watt_hours_sf: 0,
    }
}

/// What [`inverter`] reads as: energy, export, power, V1–V3, current,
/// frequency (`None`: no value).
pub const INVERTER_VALUES: [Option<f64>; 8] = [
    Some(12_345.678),
    None,
    Some(50_000.0),
    Some(230.1),
    None,
    Some(229.9),
    Some(12.34),
    Some(50.02),
];

/// A three-phase meter with a few points not implemented: PhVphC (int16
/// 0x8000), Hz_SF (sunssf 0x8000) and TotWhExp (acc32 0).
pub fn meter() -> Meter {
    Meter {
        amps: 305,
        amps_sf: -1,
        volts: [2305, 2310, i16::MIN],
        volts_sf: -1,
        hertz: 4998,
        hertz_sf: i16::MIN,
        watts: -1500,
        watts_sf: 0,
        exported_wh: 0,
        imported_wh: 987_654,
        wh_sf: 1,
    }
}

/// What [`meter`] reads as.
pub const METER_VALUES: [Option<f64>; 8] = [
    Some(9_876.54),
    None,
    Some(-1500.0),
    Some(230.5),
    Some(231.0),
    None,
    Some(30.5),
    None,
];

/// Common model, a vendor model 120 (L = 26), inverter 103, meter 203, end.
pub fn inverter_with_meter(base: u16, serial: &str) -> Chain {
    Chain::new(base)
        .model(1, &common("Acme Solar", "Sunny 8000", "", serial))
        .model(103, &inverter().body())
        .model(120, &[7; 26])
        .model(203, &meter().body())
        .end()
}
