//! SunSpec devices over Modbus TCP: the chain found at each base, the
//! values read back exactly with their scale factors, "not implemented"
//! points skipped, a device offline at start, and hostile chains that end
//! in a clear error after a bounded number of requests.

mod common;
mod sunspec_chain;

use collector::bus::Fleet;
use collector::config::{self, Config};
use collector::map::RegisterKind;
use collector::simulator::{Devices, serve_tcp};
use collector::source::{Fault, MeterRead, NoValue};
use collector::sunspec::{self, MAX_MODELS};
use common::*;
use std::path::Path;
use sunspec_chain::*;

/// A site with one bus `gw` at `addr` and `meters`: `(MeterId, unit,
/// ModbusMap, extra lines)`.
fn site(dir: &Path, addr: std::net::SocketAddr, meters: &[(&str, u8, &str, &str)]) -> Config {
    let mut rest = format!("[bus.gw]\ntcp = \"{addr}\"\n\n");
    for (id, unit, map, extra) in meters {
        rest.push_str(&format!(
            "[[meter]]\nMeterId = \"{id}\"\nModbusId = {unit}\nPort = \"gw\"\nModbusMap = \"{map}\"\nSaveEvery = 5\n{extra}\n"
        ));
    }
    config::load(&write_site(
        dir,
        "http://127.0.0.1:9",
        &shipped_maps(),
        &rest,
    ))
    .unwrap()
}

fn assert_values(read: &MeterRead, expected: &[Option<f64>; 8]) {
    assert_eq!(read.fault, None);
    for (q, (want, got)) in expected.iter().zip(&read.values).enumerate() {
        match want {
            // Exact: the scale factor divides (230.1, not 230.10000000000002).
            Some(value) => assert_eq!(got, &Ok(*value), "{}", sunspec::QUANTITIES[q].0),
            None => assert!(
                matches!(got, Err(NoValue::Sentinel | NoValue::NotRead)),
                "{} should have no value: {got:?}",
                sunspec::QUANTITIES[q].0
            ),
        }
    }
}

#[tokio::test]
async fn the_chain_is_found_at_each_base_and_read_exactly() {
    within(30, async {
        let devices = Devices::default();
        for (unit, base) in [(1u8, 40000u16), (2, 0), (3, 50000)] {
            devices.with(unit, |d| {
                inverter_with_meter(base, &format!("SN{unit}")).load(d)
            });
        }
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = site(
            dir.path(),
            addr,
            &[
                ("at40000", 1, "sunspec", ""),
                ("at0", 2, "sunspec", ""),
                ("at50000", 3, "sunspec", ""),
            ],
        );
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0, 1, 2]).await;
        for read in &reads {
            // The first model the collector reads: the inverter's 103.
            assert_values(read, &INVERTER_VALUES);
        }
        let readings = fleet.readings(&reads, |_| 600);
        assert_eq!(readings.len(), 3);
        assert!(
            readings.iter().all(|r| r.value == 12_345.678),
            "kWh: {readings:?}"
        );
        // A second cycle reads each model in one request, no discovery.
        let before = devices.requests();
        let again = fleet.poll(&[0, 1, 2]).await;
        assert_eq!(devices.requests() - before, 3);
        assert_eq!(again, reads);
    })
    .await
}

#[tokio::test]
async fn a_model_picked_by_its_id_and_a_pinned_base() {
    within(30, async {
        let devices = Devices::default();
        devices.with(1, |d| inverter_with_meter(40000, "SN1").load(d));
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = site(
            dir.path(),
            addr,
            &[("grid", 1, "sunspec:203", "startAddress = 40000\n")],
        );
        assert_eq!(
            config.meters[0].announcement.modbus_map.as_deref(),
            Some("sunspec:203")
        );
        assert_eq!(config.meters[0].announcement.start_address, Some(40000));
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0]).await;
        assert_values(&reads[0], &METER_VALUES);
        // Marker, 5 headers (1, 103, 120, 203, end), common model, model 203.
        assert_eq!(devices.requests(), 1 + 5 + 1 + 1);
    })
    .await
}

#[tokio::test]
async fn a_device_offline_at_start_is_discovered_when_it_answers() {
    within(30, async {
        let devices = Devices::default();
        devices.with(4, |d| {
            inverter_with_meter(40000, "SN4").load(d);
            d.silent = true;
        });
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), addr, &[("pv", 4, "sunspec", "")]);
        let mut fleet = Fleet::new(&config);
        let reads = fleet.poll(&[0]).await;
        assert!(
            matches!(reads[0].fault, Some(Fault::Timeout(_))),
            "{reads:?}"
        );
        assert_eq!(devices.requests(), 1, "one timeout, not one per base");
        devices.with(4, |d| d.silent = false);
        assert_values(&fleet.poll(&[0]).await[0], &INVERTER_VALUES);
    })
    .await
}

#[tokio::test]
async fn a_chain_that_changes_is_read_again() {
    within(30, async {
        let devices = Devices::default();
        devices.with(1, |d| inverter_with_meter(40000, "SN1").load(d));
        let addr = serve_tcp(devices.clone()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let config = site(dir.path(), addr, &[("pv", 1, "sunspec:203", "")]);
        let mut fleet = Fleet::new(&config);
        assert_values(&fleet.poll(&[0]).await[0], &METER_VALUES);
        // A firmware update drops the vendor model: 203 moves up by 28.
        devices.with(1, |d| {
            d.holding.clear();
            Chain::new(40000)
                .model(1, &common("Acme Solar", "Sunny 8000", "", "SN1"))
                .model(103, &inverter().body())
                .model(203, &meter().body())
                .end()
                .load(d)
        });
        let read = &fleet.poll(&[0]).await[0];
        let Some(Fault::Layout(why)) = &read.fault else {
            panic!("{read:?}")
        };
        assert!(why.contains("changed"), "{why}");
        assert_values(&fleet.poll(&[0]).await[0], &METER_VALUES);
    })
    .await
}

/// The layout fault of a SunSpec meter whose device holds `chain`
/// (changed by `extra`), and the requests it took.
async fn layout_fault(
    chain: Chain,
    extra: impl FnOnce(&mut collector::simulator::Device),
) -> (String, u64) {
    let devices = Devices::default();
    devices.with(1, |d| {
        chain.load(d);
        extra(d);
    });
    let addr = serve_tcp(devices.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = site(
        dir.path(),
        addr,
        &[(
            "bad",
            1,
            "sunspec",
            &format!("startAddress = {}\n", chain.base),
        )],
    );
    let mut fleet = Fleet::new(&config);
    let read = fleet.poll(&[0]).await.remove(0);
    assert!(read.values.iter().all(|v| v.is_err()), "{read:?}");
    match read.fault {
        Some(Fault::Layout(why)) => (why, devices.requests()),
        other => panic!("not a layout fault: {other:?}"),
    }
}

fn common_model() -> Vec<u16> {
    common("Acme", "Broken", "", "X")
}

#[tokio::test]
async fn hostile_chains_end_in_a_clear_error() {
    within(60, async {
        // A model whose L wraps the next address around to the common model.
        let chain = Chain::new(40000).model(1, &common_model());
        let wrap = (65536 + 40002 - (chain.next_address() + 2)) as u16;
        let (why, requests) = layout_fault(chain.header(64_001, wrap), |_| {}).await;
        assert!(
            why.contains("loops") && why.contains("back to register 40002"),
            "{why}"
        );
        assert!(requests <= 3, "{requests}");

        // A model running past 65535.
        let chain = Chain::new(50000)
            .model(1, &common_model())
            .header(64_001, 20_000);
        let (why, _) = layout_fault(chain, |_| {}).await;
        assert!(
            why.contains("past register 65535") && why.contains("L = 20000"),
            "{why}"
        );

        // A model of known layout with an overlong L.
        let mut body = inverter().body();
        body.extend([0; 10]);
        let chain = Chain::new(40000)
            .model(1, &common_model())
            .model(103, &body)
            .end();
        let (why, _) = layout_fault(chain, |_| {}).await;
        assert!(
            why.contains("model 103") && why.contains("L = 60, its definition has 50"),
            "{why}"
        );

        // No end marker: the registers after the last model are empty...
        let chain = Chain::new(40000)
            .model(1, &common_model())
            .model(103, &inverter().body());
        let after = chain.next_address() as u16;
        let (why, _) = layout_fault(chain, |_| {}).await;
        assert!(
            why.contains("no end marker") && why.contains(&format!("at {after}")),
            "{why}"
        );

        // ... or refused.
        let chain = Chain::new(40000)
            .model(1, &common_model())
            .model(103, &inverter().body());
        let after = chain.next_address() as u16;
        let (why, _) = layout_fault(chain, |d| d.refuse(RegisterKind::Holding, after)).await;
        assert!(
            why.contains("no end marker") && why.contains("exception 2"),
            "{why}"
        );

        // A chain of empty vendor models that goes on and on.
        let mut chain = Chain::new(0).model(1, &common_model());
        for _ in 0..2 * MAX_MODELS {
            chain = chain.header(64_002, 0);
        }
        let (why, requests) = layout_fault(chain, |_| {}).await;
        assert!(
            why.contains(&format!("more than {MAX_MODELS} models")),
            "{why}"
        );
        assert!(requests <= 1 + MAX_MODELS as u64, "bounded: {requests}");

        // No marker at the pinned base.
        let (why, _) = layout_fault(
            Chain {
                base: 40000,
                words: vec![0x5375, 0],
            },
            |_| {},
        )
        .await;
        assert!(
            why.contains("no SunSpec marker") && why.contains("at 40000: 5375 0000"),
            "{why}"
        );
    })
    .await
}

#[tokio::test]
async fn a_chain_without_a_model_the_collector_reads_says_which_it_has() {
    within(30, async {
        let chain = Chain::new(40000)
            .model(1, &common_model())
            .model(113, &[0; 60])
            .end();
        let (why, _) = layout_fault(chain, |_| {}).await;
        assert!(
            why.contains("no model the collector reads") && why.contains("models 1, 113"),
            "{why}"
        );
    })
    .await
}

#[test]
fn sunspec_in_site_toml() {
    let dir = tempfile::tempdir().unwrap();
    let load = |meter: &str| {
        config::load(&write_site(
            dir.path(),
            "http://127.0.0.1:9",
            &shipped_maps(),
            &format!(
                "[bus.gw]\ntcp = \"127.0.0.1:502\"\n\n[[meter]]\nMeterId = \"pv\"\nModbusId = 1\nPort = \"gw\"\nSaveEvery = 5\n{meter}"
            ),
        ))
    };
    let config = load("ModbusMap = \"sunspec\"\n").unwrap();
    let meter = &config.meters[0];
    assert!(meter.plan.is_empty());
    assert_eq!(meter.map.quantities[meter.map.value].name, "energy");
    assert_eq!(meter.map.quantities[meter.map.value].unit, "kWh");
    assert_eq!(meter.sunspec.as_ref().unwrap().bases, sunspec::BASES);
    assert_eq!(meter.announcement.start_address, None);
    let error = load("ModbusMap = \"sunspec:113\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("ModbusMap") && error.contains("reads SunSpec models 101, 102, 103, 201"),
        "{error}"
    );
    let error = load("ModbusMap = \"sunspec\"\nstartAddress = 70000\n")
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("startAddress") && error.contains("70000"),
        "{error}"
    );
}
