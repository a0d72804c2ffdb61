//! Modbus frames in, values out: in-process TCP servers holding known
//! values in every type and word order, RTU over a pseudo-terminal pair
//! with several unit ids on one bus, device exceptions, sentinels and dead
//! meters.

mod common;

use collector::bus::Fleet;
use collector::config;
use collector::map::{self, RegisterKind, ValueType, WordOrder};
use collector::simulator::{Devices, PtyLine, serve_rtu, serve_tcp};
use collector::source::{Fault, NoValue};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// A value of `ty` that survives the trip exactly.
fn known(ty: ValueType, order: WordOrder) -> f64 {
    let k = WordOrder::ALL.iter().position(|o| *o == order).unwrap() as f64;
    match ty {
        ValueType::U16 => 54_321.0 - k,
        ValueType::I16 => -12_345.0 - k,
        ValueType::U32 => 3_000_000_000.0 + k,
        ValueType::I32 => -2_000_000_000.0 - k,
        ValueType::U64 => 2f64.powi(60) + 4096.0 * k,
        ValueType::I64 => -(2f64.powi(59)) - 2048.0 * k,
        ValueType::F32 => 230.5 + k,
        ValueType::F64 => 28_540.24 + k,
    }
}

/// A map with every type in every order, alternating holding and input
/// registers, plus a scaled quantity as the value.
fn every_type_map(dir: &Path) -> map::RegisterMap {
    let mut text = String::from("meter = \"every type\"\nvalue = \"scaled\"\nmax_gap = 0\n");
    let mut address = 0;
    for ty in ValueType::ALL {
        for order in WordOrder::ALL {
            let kind = if address % 8 == 0 { "holding" } else { "input" };
            text.push_str(&format!(
                "[[quantity]]\nname = \"{}_{}\"\nkind = \"{kind}\"\naddress = {address}\ntype = \"{}\"\norder = \"{}\"\n",
                ty.name(), order.name(), ty.name(), order.name()
            ));
            address += ty.registers();
        }
    }
    text.push_str(&format!(
        "[[quantity]]\nname = \"scaled\"\nkind = \"input\"\naddress = {address}\ntype = \"i32\"\norder = \"CDAB\"\nscale = 0.1\noffset = 5\nunit = \"kWh\"\n"
    ));
    std::fs::write(dir.join("every.toml"), &text).unwrap();
    map::parse("every.toml", "every.toml", &text).unwrap()
}

#[tokio::test]
async fn tcp_values_in_every_type_and_word_order() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let map = every_type_map(dir.path());
        let devices = Devices::default();
        devices.with(7, |d| {
            d.load(&map, 1000, |q| {
                let quantity = &map.quantities[q];
                if quantity.name == "scaled" { 1239.5 } else { known(quantity.ty, quantity.order) }
            })
        });
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            dir.path(),
            &format!(
                "[bus.gw]\ntcp = \"{addr}\"\n\n[[meter]]\nMeterId = \"m\"\nModbusId = 7\nPort = \"gw\"\nModbusMap = \"every.toml\"\nSaveEvery = 5\nstartAddress = 1000\n"
            ),
        );
        let config = config::load(&site).unwrap();
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0]).await;
        assert_eq!(reads[0].fault, None);
        for (q, quantity) in map.quantities.iter().enumerate() {
            let expected = if quantity.name == "scaled" { 1239.5 } else { known(quantity.ty, quantity.order) };
            let got = reads[0].values[q].unwrap_or_else(|why| panic!("{} has no value: {why}", quantity.name));
            assert!((got - expected).abs() < 1e-9, "{}: {got} != {expected}", quantity.name);
        }
        assert_eq!(fleet.readings(&reads, |_| 300), [collector::spool::NewReading { meter_id: "m".into(), ts: 300, value: 1239.5 }]);
        // max_gap = 0 and every register used: one read per register kind
        // run, far fewer than 33.
        assert!(fleet.stats().requests < 33, "{:?}", fleet.stats());
    })
    .await
}

fn meters_toml(meters: &[(&str, u8, &str, &str)]) -> String {
    meters
        .iter()
        .map(|(id, unit, port, map)| {
            format!("[[meter]]\nMeterId = \"{id}\"\nModbusId = {unit}\nPort = \"{port}\"\nModbusMap = \"{map}\"\nSaveEvery = 5\n\n")
        })
        .collect()
}

#[tokio::test]
async fn exceptions_skip_a_quantity_and_sentinels_are_not_sent() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let sdm120 = map::load(&shipped_maps().join("eastron-sdm120.toml")).unwrap();
        let devices = Devices::default();
        // Unit 1: no frequency register (an exception for the merged read,
        // then for that quantity alone); unit 2: energy is NaN.
        devices.with(1, |d| {
            d.load(&sdm120, 0, |q| 100.0 + q as f64);
            d.refuse(RegisterKind::Input, 0x0046);
        });
        devices.with(2, |d| {
            d.load(&sdm120, 0, |q| 100.0 + q as f64);
            d.set(RegisterKind::Input, 0x0156, &[0x7FC0, 0]);
        });
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!(
                "[bus.gw]\ntcp = \"{addr}\"\n\n{}",
                meters_toml(&[
                    ("a", 1, "gw", "eastron-sdm120.toml"),
                    ("b", 2, "gw", "eastron-sdm120.toml")
                ])
            ),
        );
        let config = config::load(&site).unwrap();
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0, 1]).await;
        let frequency = sdm120
            .quantities
            .iter()
            .position(|q| q.name == "frequency")
            .unwrap();
        assert_eq!(reads[0].fault, None);
        assert_eq!(
            reads[0].values[frequency],
            Err(NoValue::Exception(2)),
            "skipped"
        );
        assert_eq!(reads[0].values[0], Ok(100.0));
        assert_eq!(reads[0].value(&config.meters[0]), Some(107.0));
        assert_eq!(
            reads[1].point_value(&config.meters[1]),
            Err(NoValue::NotANumber),
            "NaN is not a reading"
        );
        let readings = fleet.readings(&reads, |_| 600);
        assert_eq!(readings.len(), 1);
        assert_eq!(readings[0].meter_id, "a");
        let stats = fleet.stats();
        assert_eq!(stats.exceptions, 2, "{stats:?}");
        assert_eq!(stats.timeouts + stats.faults, 0);
        // Next cycle: meter a is read quantity by quantity for its first
        // block (7 reads + energy), meter b still in 2 reads.
        let before = devices.requests();
        fleet.poll(&[0, 1]).await;
        assert_eq!(devices.requests() - before, 8 + 2);
    })
    .await
}

#[tokio::test]
async fn a_dead_meter_costs_its_bus_one_timeout_and_other_buses_nothing() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let sdm630 = map::load(&shipped_maps().join("eastron-sdm630.toml")).unwrap();
        let (alive, dead) = (Devices::default(), Devices::default());
        alive.with(1, |d| d.load(&sdm630, 0, |q| q as f64));
        dead.with(1, |d| d.load(&sdm630, 0, |q| q as f64));
        dead.with(2, |d| d.silent = true);
        let (alive_addr, dead_addr) = (
            serve_tcp(alive).await.unwrap(),
            serve_tcp(dead.clone()).await.unwrap(),
        );
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!(
                "[bus.a]\ntcp = \"{alive_addr}\"\n\n[bus.b]\ntcp = \"{dead_addr}\"\n\n{}",
                meters_toml(&[
                    ("ok", 1, "a", "eastron-sdm630.toml"),
                    ("silent", 2, "b", "eastron-sdm630.toml"),
                    ("after", 1, "b", "eastron-sdm630.toml")
                ])
            ),
        );
        let config = config::load(&site).unwrap();
        let mut fleet = Fleet::new(&config);
        for _ in 0..2 {
            let started = Instant::now();
            let reads = fleet.poll(&[0, 1, 2]).await;
            let took = started.elapsed();
            assert_eq!(
                reads[1].fault,
                Some(Fault::Timeout(Duration::from_millis(300)))
            );
            assert_eq!(reads[0].fault, None);
            assert_eq!(
                reads[2].fault, None,
                "the meter after the dead one on its bus is read"
            );
            assert_eq!(reads[2].value(&config.meters[2]), Some(13.0));
            // One timeout (300 ms), not one per read or per retry.
            assert!(took < Duration::from_millis(550), "{took:?}");
        }
        // The dead meter answers again.
        dead.with(2, |d| d.silent = false);
        assert_eq!(fleet.poll(&[1]).await[0].fault, None);
    })
    .await
}

#[tokio::test]
async fn rtu_over_a_pty_pair_with_several_units_on_one_bus() {
    within(30, async {
        let dir = tempfile::tempdir().unwrap();
        let line = PtyLine::open().unwrap();
        let device = line.device.clone();
        let devices = Devices::default();
        let maps = [
            ("eastron-sdm630.toml", 1u8),
            ("eastron-sdm120.toml", 2),
            ("carlo-gavazzi-em24.toml", 3),
        ];
        for (file, unit) in maps {
            let m = map::load(&shipped_maps().join(file)).unwrap();
            devices.with(unit, |d| {
                d.load(&m, 0, |q| 1000.0 * f64::from(unit) + q as f64)
            });
        }
        serve_rtu(devices.clone(), line.master, None);
        let site = write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!(
                "[bus.rs485]\ndevice = \"{device}\"\nbaud = 9600\n\n{}",
                meters_toml(&[
                    ("sdm630", 1, "rs485", maps[0].0),
                    ("sdm120", 2, "rs485", maps[1].0),
                    ("em24", 3, "rs485", maps[2].0),
                    ("absent", 4, "rs485", maps[1].0),
                ])
            ),
        );
        let config = config::load(&site).unwrap();
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0, 1, 2, 3]).await;
        for (i, read) in reads.iter().take(3).enumerate() {
            assert_eq!(read.fault, None, "{}", config.meters[i].id);
            let meter = &config.meters[i];
            let expected = 1000.0 * f64::from(meter.unit) + meter.map.value as f64;
            assert!(
                (read.value(meter).unwrap() - expected).abs() < 0.01,
                "{}: {:?}",
                meter.id,
                read.values
            );
        }
        assert!(
            matches!(reads[3].fault, Some(Fault::Timeout(_))),
            "{:?}",
            reads[3].fault
        );
        // The three meters in 2 + 2 + 1 requests, the absent one in 1.
        assert_eq!(devices.requests(), 6);
    })
    .await
}
