//! End to end: Modbus meters → the site collector → the real ingest
//! component (in the test host, or on real Spin with `E2E_SPIN`) →
//! `/data`, `/interval` and `/point` show the values.

mod common;

use collector::daemon::Site;
use collector::map;
use collector::simulator::{Devices, serve_tcp};
use common::*;
use serde_json::{Value as Json, json};
use std::path::Path;
use std::time::Duration;

/// 2019-10-30T17:10:00Z and 17:15:00Z (13:10 and 13:15 in Toronto).
const T1: i64 = 1_572_455_400;
const T2: i64 = 1_572_455_700;

fn maps() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../collector/maps")
}

async fn delivered(site: &Site) {
    for _ in 0..1000 {
        if site.spool.pending() == 0 && site.spool.stats().unwrap().delivered > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the collector did not deliver within 10 s: {:?}",
        site.spool.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn meters_read_by_the_collector_show_in_data_and_interval() {
    within(async {
        let app = App::start().await;
        let provisioned = app.provision("site", "owner").await;
        let user = app.log_in("owner", "password-1").await;
        let dir = tempfile::tempdir().unwrap();
        let token_file = dir.path().join("ingest-token");
        std::fs::write(&token_file, provisioned["ingest_token"].as_str().unwrap()).unwrap();

        // An SDM630 (f32) and an EM24 (i32, low word first, x10) behind one
        // Modbus TCP gateway.
        let sdm630 = map::load(&maps().join("eastron-sdm630.toml")).unwrap();
        let em24 = map::load(&maps().join("carlo-gavazzi-em24.toml")).unwrap();
        let devices = Devices::default();
        let set = |sdm630_kwh: f64, em24_kwh: f64| {
            devices.with(1, |d| d.load(&sdm630, 0, |q| if q == sdm630.value { sdm630_kwh } else { 230.0 }));
            devices.with(2, |d| d.load(&em24, 0, |q| if q == em24.value { em24_kwh } else { 1.0 }));
        };
        set(28539.75, 35757.2);
        let gateway = serve_tcp(devices.clone()).await.unwrap();
        let site_toml = dir.path().join("site.toml");
        // require_clock_sync = false: these machines run without NTP (the
        // kernel says the clock is unsynchronised); the stamps here are the
        // test's own boundaries anyway.
        std::fs::write(
            &site_toml,
            format!(
                "server = \"{}\"\ntoken_file = \"{}\"\nspool = \"spool.sqlite\"\nrequire_clock_sync = false\nmaps = \"{}\"\n\n\
                 [bus.gw]\ntcp = \"{gateway}\"\n\n\
                 [[meter]]\nMeterId = \"meter1\"\nModbusId = 1\nPort = \"gw\"\nNoPhases = \"3\"\nMeterType = \"Eastron SDM630\"\n\
                 ModbusMap = \"eastron-sdm630.toml\"\nSaveEvery = 5\nstartAddress = 0\n\n\
                 [[meter]]\nMeterId = \"meter2\"\nModbusId = 2\nPort = \"gw\"\nNoPhases = \"3\"\nMeterType = \"Carlo Gavazzi EM24\"\n\
                 ModbusMap = \"carlo-gavazzi-em24.toml\"\nSaveEvery = 5\n",
                app.base_url(),
                token_file.display(),
                maps().display()
            ),
        )
        .unwrap();
        let mut site = Site::start(collector::config::load(&site_toml).unwrap()).unwrap();
        let all = site.all();
        site.cycle(T1, &all).await.unwrap();
        delivered(&site).await;
        set(28540.25, 35757.6);
        site.cycle(T2, &all).await.unwrap();
        delivered(&site).await;
        assert_eq!(site.spool.stats().unwrap().delivered, 4);
        site.stop().await;

        // What the meters hold, as the collector decodes it.
        let em24_t1 = (35757.2f64 / 0.1).round() * 0.1;
        let em24_t2 = (35757.6f64 / 0.1).round() * 0.1;
        let data = parse(&app.get("/data", &user).await);
        assert_eq!(
            data,
            json!([
                {"MeterParam": "meter1", "TimeStamping": "2019-10-30 13:15:00", "value": 28540.25},
                {"MeterParam": "meter2", "TimeStamping": "2019-10-30 13:15:00", "value": em24_t2},
            ])
        );
        let interval = parse(&app.get("/interval", &user).await);
        assert_eq!(interval[0], json!({"MeterParam": "meter1", "TimeStamping": "2019-10-30 13:15:00", "value": 0.5}));
        assert_eq!(interval[1]["MeterParam"], "meter2");
        assert_eq!(interval[1]["TimeStamping"], "2019-10-30 13:15:00");
        let em24_interval = interval[1]["value"].as_f64().unwrap();
        assert!((em24_interval - (em24_t2 - em24_t1)).abs() < 1e-9, "{interval}");
        assert_eq!(interval.as_array().unwrap().len(), 2);
        // The announcement: the point shows its meter's configuration.
        let point: Json = parse(&app.get("/point?name=meter1", &user).await);
        assert_eq!(
            point,
            json!({"id": 1, "MeterId": "meter1", "ModbusId": 1, "Port": "gw", "NoPhases": "3",
                   "MeterType": "Eastron SDM630", "ModbusMap": "eastron-sdm630.toml", "SaveEvery": 5, "startAddress": 0})
        );
    })
    .await
}
