//! site.toml and register maps: what is accepted, and errors that name the
//! file, the line and the field.

mod common;

use collector::config::{self, Link, Parity, TokenSource};
use collector::map;
use collector::plan::{one_per_quantity, plan};
use std::path::Path;

fn example() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/site.example.toml"))
        .unwrap()
}

/// The example as if it were installed next to the shipped maps.
fn parse(text: &str) -> Result<config::Config, config::ConfigError> {
    config::parse(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("site.toml"),
        text,
    )
}

#[track_caller]
fn refused(text: &str, says: &[&str]) {
    let error = parse(text).expect_err("refused").to_string();
    for part in says {
        assert!(error.contains(part), "{error:?} does not say {part:?}");
    }
}

#[test]
fn the_example_site_is_valid() {
    let config = parse(&example()).unwrap();
    assert_eq!(config.server, "https://api.intellimeter.example");
    assert_eq!(
        config.token,
        TokenSource::File("/etc/intellimeter/ingest-token".into())
    );
    assert_eq!(config.meters.len(), 3);
    assert!(config.require_clock_sync, "readings wait for NTP");
    let usb0 = &config.buses[config.meters[0].bus];
    match &usb0.link {
        Link::Serial(serial) => {
            assert_eq!(serial.device, Path::new("/dev/ttyUSB0"));
            assert_eq!(
                (
                    serial.baud,
                    serial.parity,
                    serial.data_bits,
                    serial.stop_bits
                ),
                (9600, Parity::None, 8, 1)
            );
            // 3.5 characters of 10 bits at 9600 baud.
            assert_eq!(serial.inter_frame_gap().as_micros(), 3645);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        config.meters[0].bus, config.meters[1].bus,
        "two meters share USB0"
    );
    assert_eq!(
        config.buses[config.meters[2].bus].link,
        Link::Tcp("192.168.10.20:502".into())
    );
    let announced = serde_json::to_string(&config.announcements()[0]).unwrap();
    assert_eq!(
        announced,
        r#"{"MeterId":"meter1","ModbusId":1,"Port":"USB0","NoPhases":"3","MeterType":"Eastron SDM630","ModbusMap":"eastron-sdm630.toml","SaveEvery":5,"startAddress":0,"Unit":"kWh"}"#
    );
    assert_eq!(config.meters[2].every, 900);
}

#[test]
fn a_port_without_a_bus_section_is_a_serial_port() {
    let text = example().replace("Port = \"panel2\"", "Port = \"ACM0\"");
    let config = parse(&text).unwrap();
    match &config.buses[config.meters[2].bus].link {
        Link::Serial(serial) => assert_eq!(serial.device, Path::new("/dev/ttyACM0")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_token_never_goes_inline() {
    let text = example().replace(
        "token_file = \"/etc/intellimeter/ingest-token\"",
        "token = \"9f0c\"",
    );
    let line = text.lines().position(|l| l.starts_with("token =")).unwrap() + 1;
    refused(
        &text,
        &[&format!(
            "site.toml:{line}: token: the ingest token never goes in site.toml"
        )],
    );
    let error = parse(&text).unwrap_err().to_string();
    assert!(
        !error.contains("9f0c"),
        "the token is not repeated: {error}"
    );
}

#[test]
fn meter_errors_name_line_and_field() {
    let line_of =
        |text: &str, needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    let text = example().replace("SaveEvery = 15", "SaveEvery = 7");
    refused(
        &text,
        &[&format!(
            "site.toml:{}: meter[2].SaveEvery: 7 minutes does not divide a day",
            line_of(&text, "SaveEvery = 7")
        )],
    );
    let text = example().replace("MeterId = \"meter2\"", "MeterId = \"meter1\"");
    refused(&text, &["meter[1].MeterId: \"meter1\" is used twice"]);
    let text = example().replace("MeterId = \"meter2\"", "MeterId = \"meter2 \"");
    refused(
        &text,
        &["meter[1].MeterId: must not start or end with spaces"],
    );
    let text = example().replace("ModbusId = 2", "ModbusId = 1");
    refused(
        &text,
        &["meter[1].ModbusId: unit 1 on bus USB0 is also meter \"meter1\""],
    );
    let text = example().replace("ModbusId = 2", "ModbusId = 300");
    refused(&text, &["meter[1].ModbusId: 300 is not a unit id"]);
    let text = example().replace("startAddress = 0", "startAddress = 65500");
    refused(
        &text,
        &[&format!(
            "site.toml:{}: meter[0].startAddress: 65500 puts registers",
            line_of(&text, "startAddress = 65500")
        )],
    );
    let text = example().replace(
        "ModbusMap = \"eastron-sdm120.toml\"",
        "ModbusMap = \"nope.toml\"",
    );
    refused(
        &text,
        &[&format!(
            "site.toml:{}: meter[1].ModbusMap: cannot read the register map",
            line_of(&text, "nope.toml")
        )],
    );
    let text = example().replace("baud = 9600", "baud = 12");
    refused(&text, &["bus.USB0.baud: 12 is not a serial speed"]);
    let text = example().replace("SaveEvery = 15", "SaveEvery = \"15\"");
    refused(
        &text,
        &[
            &format!("site.toml:{}:", line_of(&text, "SaveEvery = \"15\"")),
            "invalid type",
        ],
    );
    let text = example().replace("[upload]", "[upload]\nbatch = 3");
    refused(&text, &["unknown field `batch`"]);
}

#[test]
fn the_shipped_maps_are_valid_and_merge_their_reads() {
    for (file, quantities, reads, value) in [
        ("eastron-sdm630.toml", 14, 2, "total_energy"),
        ("eastron-sdm120.toml", 8, 2, "total_energy"),
        ("carlo-gavazzi-em24.toml", 14, 1, "import_energy"),
    ] {
        let m = map::load(&common::shipped_maps().join(file)).unwrap();
        assert_eq!(m.quantities.len(), quantities, "{file}");
        assert_eq!(m.quantities[m.value].name, value, "{file}");
        let planned = plan(&m, 0);
        assert_eq!(planned.len(), reads, "{file}: {planned:?}");
        assert!(planned.len() < one_per_quantity(&m, 0).len());
    }
}

#[track_caller]
fn map_refused(text: &str, says: &str) {
    let error = map::parse("maps/bad.toml", "bad.toml", text)
        .unwrap_err()
        .to_string();
    assert!(error.contains(says), "{error:?} does not say {says:?}");
}

#[test]
fn map_errors_name_file_line_and_field() {
    let head = "meter = \"x\"\nvalue = \"a\"\n";
    let q = |name: &str, address: &str, ty: &str| {
        format!(
            "[[quantity]]\nname = \"{name}\"\nkind = \"input\"\naddress = {address}\ntype = \"{ty}\"\n"
        )
    };
    map_refused(
        &format!("{head}{}{}", q("a", "0", "f32"), q("b", "4", "f16")),
        "maps/bad.toml:12: quantity[1].type: unknown type \"f16\" (u16, i16, u32, i32, u64, i64, f32 or f64)",
    );
    map_refused(
        &format!("{head}{}{}", q("a", "0", "f64"), q("b", "3", "u16")),
        "maps/bad.toml:11: quantity[1].address: \"b\" (registers 3..4) overlaps \"a\" (registers 0..4)",
    );
    map_refused(
        &format!("{head}{}", q("a", "65535", "u32")),
        "maps/bad.toml:6: quantity[0].address: 65535 is out of range",
    );
    map_refused(
        &format!("{head}{}", q("a", "-1", "u16")),
        "maps/bad.toml:6: quantity[0].address: -1 is out of range",
    );
    map_refused(
        &format!("meter = \"x\"\nvalue = \"energy\"\n{}", q("a", "0", "u16")),
        "maps/bad.toml:2: value: no quantity is named \"energy\"",
    );
    map_refused(
        &format!("{head}{}", q("a", "0", "u16").replace("input", "coil")),
        "maps/bad.toml:5: quantity[0].kind: unknown register kind \"coil\"",
    );
    map_refused(
        &format!("{head}{}order = \"ACBD\"\n", q("a", "0", "u32")),
        "maps/bad.toml:8: quantity[0].order: unknown word order \"ACBD\"",
    );
    map_refused(
        &format!("{head}{}{}", q("a", "0", "u16"), q("a", "1", "u16")),
        "maps/bad.toml:9: quantity[1].name: \"a\" is defined twice",
    );
    map_refused(
        &format!("{head}{}colour = 1\n", q("a", "0", "u16")),
        "maps/bad.toml:8: unknown field `colour`",
    );
}

#[test]
fn addresses_far_beyond_the_registers_are_refused_not_wrapped() {
    // `address + registers` overflowed i64: a panic in a debug build, and in
    // a release build a negative sum that passed the range check, so the
    // address was cut to 16 bits and the meter read at the wrong register.
    let far = "9223372036854775807";
    map_refused(
        &format!(
            "meter = \"x\"\nvalue = \"a\"\n[[quantity]]\nname = \"a\"\nkind = \"input\"\naddress = {far}\ntype = \"f32\"\n"
        ),
        &format!(
            "maps/bad.toml:6: quantity[0].address: {far} is out of range: a f32 needs registers {far} to 9223372036854775808 of 0 to 65535"
        ),
    );
    let line = 1 + example()
        .lines()
        .position(|l| l == "startAddress = 0")
        .unwrap();
    refused(
        &example().replace("startAddress = 0", &format!("startAddress = {far}")),
        &[&format!(
            "site.toml:{line}: meter[0].startAddress: {far} puts registers of eastron-sdm630.toml beyond 65535"
        )],
    );
}
