//! Every register map in `collector/maps/`, found by listing the folder (so
//! a new map cannot ship untested): it loads, its `value` is a cumulative
//! energy with a unit, its planned reads keep the meter's documented
//! limits, and the collector's own read path (plan, bus, Modbus TCP) reads
//! every quantity back from a simulated meter whose registers were encoded
//! here, independently of the decoder under test.

mod common;

use collector::bus::Fleet;
use collector::config;
use collector::map::{self, RegisterMap, ValueType, WordOrder};
use collector::plan::{one_per_quantity, plan};
use collector::simulator::{Devices, serve_tcp};
use common::*;
use std::collections::BTreeSet;

/// Each shipped map and the most registers its meter's manual allows in
/// one read (Modbus' own 125 where the manual names no smaller number).
/// A map missing here fails `every_map_keeps_its_meters_documented_limit`.
const DOCUMENTED_LIMITS: &[(&str, u16)] = &[
    ("abb-b2x.toml", 125),
    ("carlo-gavazzi-em24.toml", 125),
    // The protocol's request frame table: 1 to 20 registers.
    ("carlo-gavazzi-em340.toml", 20),
    ("chint-dtsu666.toml", 125),
    ("dzg-dvh4013.toml", 125),
    // Eastron: "a maximum of 40 values", 80 registers.
    ("eastron-sdm120.toml", 80),
    ("eastron-sdm220.toml", 80),
    ("eastron-sdm230.toml", 80),
    ("eastron-sdm54.toml", 80),
    ("eastron-sdm630.toml", 80),
    ("eastron-sdm72d-m-v2.toml", 80),
    ("eastron-sdm72d-m.toml", 80),
    ("finder-7m24.toml", 125),
    ("finder-7m38.toml", 125),
    ("inepro-pro380.toml", 125),
    ("janitza-b23.toml", 125),
    ("janitza-umg604.toml", 125),
    ("orno-we514.toml", 125),
    ("orno-we516.toml", 125),
    ("schneider-iem3x5x.toml", 125),
    ("siemens-pac2200.toml", 125),
    ("socomec-countis-e2x.toml", 125),
];

/// The point's value register of each map, transcribed a second time from
/// the sources its header names: (file, kind, address, type, word order,
/// scale to kWh). A slip in a map's most important quantity fails
/// `every_value_register_is_the_documented_one` rather than reaching a bill.
const VALUE_REGISTERS: &[(&str, &str, u16, &str, &str, f64)] = &[
    ("abb-b2x.toml", "holding", 0x5000, "u64", "ABCD", 0.01),
    (
        "carlo-gavazzi-em24.toml",
        "holding",
        0x0034,
        "i32",
        "CDAB",
        0.1,
    ),
    (
        "carlo-gavazzi-em340.toml",
        "input",
        0x0034,
        "i32",
        "CDAB",
        0.1,
    ),
    ("chint-dtsu666.toml", "holding", 0x101E, "f32", "ABCD", 1.0),
    ("dzg-dvh4013.toml", "holding", 0x4000, "u32", "ABCD", 0.001),
    ("eastron-sdm120.toml", "input", 0x0156, "f32", "ABCD", 1.0),
    ("eastron-sdm220.toml", "input", 0x0048, "f32", "ABCD", 1.0),
    ("eastron-sdm230.toml", "input", 0x0048, "f32", "ABCD", 1.0),
    ("eastron-sdm54.toml", "input", 0x0048, "f32", "ABCD", 1.0),
    ("eastron-sdm630.toml", "input", 0x0156, "f32", "ABCD", 1.0),
    (
        "eastron-sdm72d-m-v2.toml",
        "input",
        0x0048,
        "f32",
        "ABCD",
        1.0,
    ),
    ("eastron-sdm72d-m.toml", "input", 0x0048, "f32", "ABCD", 1.0),
    ("finder-7m24.toml", "input", 2752, "f32", "ABCD", 0.001),
    ("finder-7m38.toml", "input", 2752, "f32", "ABCD", 0.001),
    ("inepro-pro380.toml", "holding", 0x600C, "f32", "ABCD", 1.0),
    ("janitza-b23.toml", "holding", 19068, "f32", "ABCD", 0.001),
    (
        "janitza-umg604.toml",
        "holding",
        19068,
        "f32",
        "ABCD",
        0.001,
    ),
    ("orno-we514.toml", "holding", 0xA000, "u32", "ABCD", 0.01),
    ("orno-we516.toml", "holding", 0x0108, "f32", "ABCD", 1.0),
    (
        "schneider-iem3x5x.toml",
        "holding",
        3203,
        "i64",
        "ABCD",
        0.001,
    ),
    ("siemens-pac2200.toml", "input", 801, "f64", "ABCD", 0.001),
    (
        "socomec-countis-e2x.toml",
        "holding",
        0xC702,
        "u32",
        "ABCD",
        0.01,
    ),
];

/// Every `*.toml` in `collector/maps/`, by file name, sorted.
fn shipped_map_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(shipped_maps())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 22, "{files:?}");
    files
}

fn load(file: &str) -> RegisterMap {
    map::load(&shipped_maps().join(file)).unwrap_or_else(|error| panic!("{error}"))
}

/// The registers a meter sends for the raw number `raw` of type `ty` in
/// word order `order`, built without `collector::map`: the number's
/// big-endian bytes cut into words, then the words reversed (CDAB, DCBA)
/// and/or each word's two bytes swapped (BADC, DCBA).
fn meter_registers(raw: f64, ty: ValueType, order: WordOrder) -> Vec<u16> {
    let bytes: Vec<u8> = match ty {
        ValueType::U16 => (raw as u16).to_be_bytes().to_vec(),
        ValueType::I16 => (raw as i16).to_be_bytes().to_vec(),
        ValueType::U32 => (raw as u32).to_be_bytes().to_vec(),
        ValueType::I32 => (raw as i32).to_be_bytes().to_vec(),
        ValueType::U64 => (raw as u64).to_be_bytes().to_vec(),
        ValueType::I64 => (raw as i64).to_be_bytes().to_vec(),
        ValueType::F32 => (raw as f32).to_be_bytes().to_vec(),
        ValueType::F64 => raw.to_be_bytes().to_vec(),
    };
    let words: Vec<[u8; 2]> = bytes.chunks(2).map(|w| [w[0], w[1]]).collect();
    let words: Vec<[u8; 2]> = match order {
        WordOrder::Abcd => words,
        WordOrder::Cdab => words.into_iter().rev().collect(),
        WordOrder::Badc => words.into_iter().map(|[a, b]| [b, a]).collect(),
        WordOrder::Dcba => words.into_iter().rev().map(|[a, b]| [b, a]).collect(),
    };
    words.into_iter().map(u16::from_be_bytes).collect()
}

#[test]
fn the_test_encoder_matches_hand_written_registers() {
    use ValueType::*;
    use WordOrder::*;
    // (type, raw value, its registers in ABCD, CDAB, BADC, DCBA)
    let cases: &[(ValueType, f64, [&[u16]; 4])] = &[
        (U16, 4660.0, [&[0x1234], &[0x1234], &[0x3412], &[0x3412]]),
        (I16, -2.0, [&[0xFFFE], &[0xFFFE], &[0xFEFF], &[0xFEFF]]),
        (
            U32,
            f64::from(0x1122_3344u32),
            [
                &[0x1122, 0x3344],
                &[0x3344, 0x1122],
                &[0x2211, 0x4433],
                &[0x4433, 0x2211],
            ],
        ),
        (
            I32,
            -2.0,
            [
                &[0xFFFF, 0xFFFE],
                &[0xFFFE, 0xFFFF],
                &[0xFFFF, 0xFEFF],
                &[0xFEFF, 0xFFFF],
            ],
        ),
        (
            U64,
            0x0011_2233_4455_6677u64 as f64,
            [
                &[0x0011, 0x2233, 0x4455, 0x6677],
                &[0x6677, 0x4455, 0x2233, 0x0011],
                &[0x1100, 0x3322, 0x5544, 0x7766],
                &[0x7766, 0x5544, 0x3322, 0x1100],
            ],
        ),
        (
            I64,
            -2.0,
            [
                &[0xFFFF, 0xFFFF, 0xFFFF, 0xFFFE],
                &[0xFFFE, 0xFFFF, 0xFFFF, 0xFFFF],
                &[0xFFFF, 0xFFFF, 0xFFFF, 0xFEFF],
                &[0xFEFF, 0xFFFF, 0xFFFF, 0xFFFF],
            ],
        ),
        // 230.0 is 0x43660000.
        (
            F32,
            230.0,
            [&[0x4366, 0], &[0, 0x4366], &[0x6643, 0], &[0, 0x6643]],
        ),
        // 1.5 is 0x3FF8000000000000.
        (
            F64,
            1.5,
            [
                &[0x3FF8, 0, 0, 0],
                &[0, 0, 0, 0x3FF8],
                &[0xF83F, 0, 0, 0],
                &[0, 0, 0, 0xF83F],
            ],
        ),
    ];
    for (ty, raw, expected) in cases {
        for (order, words) in [Abcd, Cdab, Badc, Dcba].into_iter().zip(expected) {
            assert_eq!(
                meter_registers(*raw, *ty, order),
                *words,
                "{ty:?} {order:?} {raw}"
            );
        }
    }
}

/// A raw register value for quantity `q` of a map, distinct from every
/// other quantity's (so a quantity read from another's registers fails),
/// exactly representable in its type, negative for signed types, and with
/// a non-zero high word for 32- and 64-bit integers (so a word-order
/// mistake shows).
fn raw_value(ty: ValueType, q: usize) -> f64 {
    let n = q as f64;
    match ty {
        ValueType::U16 => 1000.0 + 37.0 * n,
        ValueType::I16 => -(1000.0 + 37.0 * n),
        ValueType::U32 | ValueType::U64 => 65_536.0 * (n + 1.0) + 1000.0 + 37.0 * n,
        ValueType::I32 | ValueType::I64 => -(65_536.0 * (n + 1.0) + 1000.0 + 37.0 * n),
        ValueType::F32 => 1000.0 + 37.25 * n,
        ValueType::F64 => 1_000_000.5 + 37.25 * n,
    }
}

#[test]
fn every_map_loads_and_its_value_is_cumulative_energy() {
    for file in shipped_map_files() {
        let m = load(&file);
        let value = &m.quantities[m.value];
        assert!(
            value.unit == "kWh",
            "{file}: the value {:?} is in {:?}, not kWh",
            value.name,
            value.unit
        );
        assert!(
            value.name.ends_with("energy"),
            "{file}: the value {:?} is not named as an energy counter",
            value.name
        );
        assert!(!m.meter.is_empty(), "{file}");
        // Every other quantity says what it measures, or is a ratio.
        for q in &m.quantities {
            assert!(
                !q.unit.is_empty() || q.name.starts_with("power_factor"),
                "{file}: {:?} has no unit",
                q.name
            );
        }
    }
}

#[test]
fn every_map_keeps_its_meters_documented_limit() {
    let files = shipped_map_files();
    let listed: BTreeSet<&str> = DOCUMENTED_LIMITS.iter().map(|(f, _)| *f).collect();
    let shipped: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    assert_eq!(
        shipped, listed,
        "every shipped map states its meter's documented limit here"
    );
    for &(file, limit) in DOCUMENTED_LIMITS {
        let m = load(file);
        assert!(
            m.max_registers <= limit,
            "{file}: max_registers {} above the documented {limit}",
            m.max_registers
        );
        for start in [0u16, 7] {
            // startAddress shifts the reads; the limits still hold.
            if m.quantities
                .iter()
                .any(|q| u32::from(q.address) + 8 > 65_535)
            {
                continue;
            }
            let reads = plan(&m, start);
            let mut seen = vec![0; m.quantities.len()];
            for read in &reads {
                assert!(
                    read.count >= 1 && read.count <= limit,
                    "{file}: a read of {} registers at {}",
                    read.count,
                    read.address
                );
                let relative = u32::from(read.address - start);
                for &b in &m.read_breaks {
                    let b = u32::from(b);
                    assert!(
                        !(relative < b && b < relative + u32::from(read.count)),
                        "{file}: the read at {} crosses break {b}",
                        read.address
                    );
                }
                for &(q, offset) in &read.quantities {
                    let quantity = &m.quantities[q];
                    assert_eq!(quantity.kind, read.kind, "{file}");
                    assert_eq!(
                        u32::from(read.address) + u32::from(offset),
                        u32::from(start) + u32::from(quantity.address),
                        "{file}: {}",
                        quantity.name
                    );
                    assert!(offset + quantity.ty.registers() <= read.count, "{file}");
                    seen[q] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n == 1), "{file}: {seen:?}");
            assert!(reads.len() <= one_per_quantity(&m, start).len(), "{file}");
        }
    }
}

#[tokio::test]
async fn every_map_reads_back_every_quantity_over_modbus_tcp() {
    within(60, async {
        let files = shipped_map_files();
        let maps: Vec<RegisterMap> = files.iter().map(|f| load(f)).collect();
        // One simulated meter per map, told apart by unit id, behind one
        // TCP endpoint (a gateway).
        let devices = Devices::default();
        let mut expected: Vec<Vec<f64>> = Vec::new();
        for (index, m) in maps.iter().enumerate() {
            let unit = index as u8 + 1;
            let mut physical = Vec::new();
            devices.with(unit, |device| {
                for (q, quantity) in m.quantities.iter().enumerate() {
                    let raw = raw_value(quantity.ty, q);
                    device.set(
                        quantity.kind,
                        quantity.address,
                        &meter_registers(raw, quantity.ty, quantity.order),
                    );
                    physical.push(raw * quantity.scale + quantity.offset);
                }
            });
            expected.push(physical);
        }
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let meters: String = files
            .iter()
            .enumerate()
            .map(|(index, file)| {
                format!(
                    "[[meter]]\nMeterId = \"m{index}\"\nModbusId = {}\nPort = \"gw\"\nModbusMap = \"{file}\"\nSaveEvery = 5\n\n",
                    index + 1
                )
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!("[bus.gw]\ntcp = \"{addr}\"\n\n{meters}"),
        );
        let config = config::load(&site).unwrap();
        let mut fleet = Fleet::new(&config);
        let all: Vec<usize> = (0..files.len()).collect();
        let reads = fleet.poll(&all).await;
        for (index, read) in reads.iter().enumerate() {
            let (file, m) = (&files[index], &maps[index]);
            assert_eq!(read.fault, None, "{file}");
            for (q, quantity) in m.quantities.iter().enumerate() {
                let want = expected[index][q];
                let got = read.values[q]
                    .unwrap_or_else(|why| panic!("{file}: {} has no value: {why:?}", quantity.name));
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "{file}: {} read {got}, sent {want}",
                    quantity.name
                );
            }
        }
        // The point values are the maps' value quantities.
        let readings = fleet.readings(&reads, |_| 600);
        assert_eq!(readings.len(), files.len());
        for (index, reading) in readings.iter().enumerate() {
            assert_eq!(reading.meter_id, format!("m{index}"));
            assert_eq!(reading.value, expected[index][maps[index].value], "{}", files[index]);
        }
        // Planned reads only, none refused.
        let planned: usize = maps.iter().map(|m| plan(m, 0).len()).sum();
        let stats = fleet.stats();
        assert_eq!(stats.exceptions, 0, "{stats:?}");
        assert_eq!(stats.requests, planned as u64, "{stats:?}");
    })
    .await
}

#[test]
fn every_value_register_is_the_documented_one() {
    let files = shipped_map_files();
    assert_eq!(
        files.len(),
        VALUE_REGISTERS.len(),
        "every shipped map has its value register transcribed here"
    );
    for &(file, kind, address, ty, order, scale) in VALUE_REGISTERS {
        let m = load(file);
        let q = &m.quantities[m.value];
        let kind_name = match q.kind {
            collector::map::RegisterKind::Holding => "holding",
            collector::map::RegisterKind::Input => "input",
        };
        assert_eq!(
            (
                kind_name,
                q.address,
                q.ty.name(),
                q.order.name(),
                q.scale,
                q.offset
            ),
            (kind, address, ty, order, scale, 0.0),
            "{file}: {}",
            q.name
        );
    }
}
