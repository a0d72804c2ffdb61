//! Bad register maps: each is refused with an error that names the file,
//! the line and the field, never a panic. (Errors the loader had before
//! `max_registers` and `read_breaks` are also checked in `config.rs`.)

use collector::map;

#[track_caller]
fn refused(text: &str, says: &str) {
    let error = map::parse("maps/bad.toml", "bad.toml", text)
        .unwrap_err()
        .to_string();
    assert_eq!(error, says);
}

const HEAD: &str = "meter = \"x\"\nvalue = \"a\"\n";

/// A quantity named `name` at `address` of type `ty`, plus `extra` lines.
fn quantity(name: &str, address: &str, ty: &str, extra: &str) -> String {
    format!(
        "[[quantity]]\nname = \"{name}\"\nkind = \"input\"\naddress = {address}\ntype = \"{ty}\"\n{extra}"
    )
}

#[test]
fn overlapping_registers() {
    refused(
        &format!(
            "{HEAD}{}{}",
            quantity("a", "10", "u32", ""),
            quantity("b", "11", "u16", "")
        ),
        "maps/bad.toml:11: quantity[1].address: \"b\" (registers 11..12) overlaps \"a\" (registers 10..12)",
    );
    // Holding and input registers of one address do not overlap.
    let text = format!(
        "{HEAD}{}{}",
        quantity("a", "10", "u32", ""),
        quantity("b", "10", "u32", "").replace("input", "holding")
    );
    assert!(map::parse("m.toml", "m.toml", &text).is_ok());
}

#[test]
fn addresses_past_65535() {
    refused(
        &format!("{HEAD}{}", quantity("a", "65536", "u16", "")),
        "maps/bad.toml:6: quantity[0].address: 65536 is out of range: a u16 needs registers 65536 to 65536 of 0 to 65535",
    );
    refused(
        &format!("{HEAD}{}", quantity("a", "65533", "f64", "")),
        "maps/bad.toml:6: quantity[0].address: 65533 is out of range: a f64 needs registers 65533 to 65536 of 0 to 65535",
    );
    // The last register is fine.
    assert!(
        map::parse(
            "m.toml",
            "m.toml",
            &format!("{HEAD}{}", quantity("a", "65535", "u16", ""))
        )
        .is_ok()
    );
}

#[test]
fn zero_negative_and_infinite_scales() {
    for (scale, shown) in [
        ("0", "0"),
        ("0.0", "0"),
        ("-0.1", "-0.1"),
        ("-1e3", "-1000"),
        ("inf", "inf"),
        ("nan", "NaN"),
    ] {
        refused(
            &format!(
                "{HEAD}{}",
                quantity("a", "0", "u16", &format!("scale = {scale}\n"))
            ),
            &format!(
                "maps/bad.toml:8: quantity[0].scale: {shown} is not a scale: it must be a finite number above 0"
            ),
        );
    }
    refused(
        &format!(
            "{HEAD}{}",
            quantity("a", "0", "u16", "scale = 0.1\noffset = nan\n")
        ),
        "maps/bad.toml:9: quantity[0].offset: NaN is not an offset: it must be a finite number",
    );
    // A negative offset is a number like any other.
    assert!(
        map::parse(
            "m.toml",
            "m.toml",
            &format!("{HEAD}{}", quantity("a", "0", "i16", "offset = -40\n"))
        )
        .is_ok()
    );
}

#[test]
fn unknown_types_and_orders() {
    refused(
        &format!("{HEAD}{}", quantity("a", "0", "float", "")),
        "maps/bad.toml:7: quantity[0].type: unknown type \"float\" (u16, i16, u32, i32, u64, i64, f32 or f64)",
    );
    refused(
        &format!(
            "{HEAD}{}",
            quantity("a", "0", "u32", "order = \"little\"\n")
        ),
        "maps/bad.toml:8: quantity[0].order: unknown word order \"little\" (ABCD, CDAB, BADC or DCBA)",
    );
}

#[test]
fn max_registers_outside_what_modbus_allows() {
    for n in ["0", "-5", "126", "65536"] {
        refused(
            &format!(
                "max_registers = {n}\n{HEAD}{}",
                quantity("a", "0", "u16", "")
            ),
            &format!(
                "maps/bad.toml:1: max_registers: {n} registers per read is not possible: Modbus allows 1 to 125"
            ),
        );
    }
    // A quantity that does not fit in one read at all.
    refused(
        &format!(
            "max_registers = 2\n{HEAD}{}{}",
            quantity("a", "0", "u16", ""),
            quantity("b", "4", "u64", "")
        ),
        "maps/bad.toml:12: max_registers: \"b\" (u64) needs 4 registers, more than max_registers = 2",
    );
    let m = map::parse(
        "m.toml",
        "m.toml",
        &format!(
            "max_registers = 40\n{HEAD}{}",
            quantity("a", "0", "u16", "")
        ),
    )
    .unwrap();
    assert_eq!(m.max_registers, 40);
    let m = map::parse(
        "m.toml",
        "m.toml",
        &format!("{HEAD}{}", quantity("a", "0", "u16", "")),
    )
    .unwrap();
    assert_eq!(m.max_registers, 125, "Modbus' own limit by default");
}

#[test]
fn read_breaks_out_of_range_or_inside_a_quantity() {
    refused(
        &format!(
            "read_breaks = [100,\n  65536]\n{HEAD}{}",
            quantity("a", "0", "u16", "")
        ),
        "maps/bad.toml:2: read_breaks[1]: 65536 is not a register a read could cross into (1 to 65535)",
    );
    refused(
        &format!("read_breaks = [0]\n{HEAD}{}", quantity("a", "0", "u16", "")),
        "maps/bad.toml:1: read_breaks[0]: 0 is not a register a read could cross into (1 to 65535)",
    );
    refused(
        &format!(
            "read_breaks = [0x4001]\n{HEAD}{}",
            quantity("a", "0x4000", "u32", "")
        ),
        "maps/bad.toml:1: read_breaks[0]: 16385 splits \"a\" (registers 16384..16386), which is read whole",
    );
    refused(
        &format!(
            "read_breaks = [\"x\"]\n{HEAD}{}",
            quantity("a", "0", "u16", "")
        ),
        "maps/bad.toml:1: invalid type: string \"x\", expected i64",
    );
    let m = map::parse(
        "m.toml",
        "m.toml",
        &format!(
            "read_breaks = [0x4000, 2, 2]\n{HEAD}{}",
            quantity("a", "0", "u16", "")
        ),
    )
    .unwrap();
    assert_eq!(m.read_breaks, [2, 0x4000], "sorted, once each");
}
