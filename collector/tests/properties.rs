//! site.toml and register maps, arbitrary and mutated from the shipped
//! ones: never a panic; what is accepted is within the protocol's bounds;
//! every error names the file and a line of it. `PROPTEST_CASES` runs
//! longer.

use collector::config;
use collector::map::{self, FileError, RegisterMap};
use collector::plan::MAX_REGISTERS_PER_READ;
use proptest::collection::vec;
use proptest::prelude::*;
use std::path::{Path, PathBuf};

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shipped(path: &str) -> String {
    std::fs::read_to_string(manifest_dir().join(path)).unwrap()
}

/// Values that break one rule or another, as TOML.
const VALUES: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "-1",
    "0",
    "1",
    "7",
    "255",
    "256",
    "65532",
    "65535",
    "65536",
    "0xFFFF",
    "1e308",
    "nan",
    "inf",
    "0.0",
    "\"\"",
    "\"x\"",
    "\" meter1\"",
    "\"USB0\"",
    "\"panel2\"",
    "\"input\"",
    "\"u64\"",
    "\"f64\"",
    "\"DCBA\"",
    "\"odd\"",
    "\"eastron-sdm120.toml\"",
    "\"../deploy/site.example.toml\"",
    "\"http://x\"",
    "\"host:502\"",
    "[]",
    "{}",
    "true",
];

#[derive(Debug, Clone)]
enum Mutation {
    /// Line `n` (modulo the count) gets `= value` instead of its value.
    Value(usize, &'static str),
    Delete(usize),
    Duplicate(usize),
    Insert(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => (any::<usize>(), prop::sample::select(VALUES)).prop_map(|(n, v)| Mutation::Value(n, v)),
        1 => any::<usize>().prop_map(Mutation::Delete),
        1 => any::<usize>().prop_map(Mutation::Duplicate),
        1 => (any::<usize>(), prop_oneof![
            "[a-zA-Z_]{1,8} = [0-9]{1,6}",
            "\\[\\[?[a-z.]{1,8}\\]\\]?",
            any::<String>(),
        ]).prop_map(|(n, text)| Mutation::Insert(n, text)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    for mutation in mutations {
        if lines.is_empty() {
            break;
        }
        let count = lines.len();
        match mutation {
            Mutation::Value(n, value) => {
                let line = &mut lines[n % count];
                if let Some((key, _)) = line.split_once('=') {
                    *line = format!("{key}= {value}");
                }
            }
            Mutation::Delete(n) => {
                lines.remove(n % count);
            }
            Mutation::Duplicate(n) => {
                let line = lines[n % count].clone();
                lines.insert(n % count, line);
            }
            Mutation::Insert(n, text) => lines.insert(n % (count + 1), text.clone()),
            Mutation::Truncate(n) => {
                let line = &mut lines[n % count];
                let cut = line.char_indices().map(|(i, _)| i).nth(n % 7).unwrap_or(0);
                line.truncate(cut);
            }
        }
    }
    lines.join("\n")
}

/// An error names the file and a line of it.
fn names_file_and_line(error: &FileError, file: &str, text: &str) -> Result<(), TestCaseError> {
    prop_assert_eq!(&error.file, file);
    prop_assert!(!error.message.is_empty());
    let lines = text.matches('\n').count() + 1;
    prop_assert!(
        (1..=lines).contains(&error.line),
        "line {} of {} lines: {}",
        error.line,
        lines,
        error
    );
    Ok(())
}

fn within_bounds(map: &RegisterMap) -> Result<(), TestCaseError> {
    prop_assert!(map.value < map.quantities.len());
    for (index, q) in map.quantities.iter().enumerate() {
        prop_assert!(q.registers().end <= 65_536, "{:?}", q);
        prop_assert!(q.scale.is_finite() && q.scale != 0.0 && q.offset.is_finite());
        for other in &map.quantities[index + 1..] {
            let apart = other.kind != q.kind
                || other.registers().end <= q.registers().start
                || q.registers().end <= other.registers().start;
            prop_assert!(apart, "{:?} overlaps {:?}", q, other);
        }
    }
    Ok(())
}

fn check_map(text: &str) -> Result<(), TestCaseError> {
    match map::parse("maps/m.toml", "m.toml", text) {
        Ok(map) => within_bounds(&map),
        Err(error) => names_file_and_line(&error, "maps/m.toml", text),
    }
}

fn check_site(text: &str) -> Result<(), TestCaseError> {
    let path = manifest_dir().join("site.toml");
    match config::parse(&path, text) {
        Ok(config) => {
            for meter in &config.meters {
                within_bounds(&meter.map)?;
                prop_assert!(meter.bus < config.buses.len());
                prop_assert!(meter.every >= 60 && 86_400 % meter.every == 0);
                for read in &meter.plan {
                    prop_assert!(read.count >= 1 && read.count <= MAX_REGISTERS_PER_READ);
                    prop_assert!(
                        u32::from(read.address) + u32::from(read.count) <= 65_536,
                        "{} reads {:?}",
                        meter.id,
                        read
                    );
                }
                let quantities: usize = meter.plan.iter().map(|r| r.quantities.len()).sum();
                prop_assert_eq!(quantities, meter.map.quantities.len());
            }
            let batch = ingest_wire::Batch {
                points: config.announcements(),
                ..Default::default()
            };
            prop_assert!(ingest_wire::check(&batch, 0).is_ok());
            Ok(())
        }
        Err(errors) => {
            prop_assert!(!errors.0.is_empty());
            for error in &errors.0 {
                if error.file == path.display().to_string() {
                    names_file_and_line(error, &error.file.clone(), text)?;
                } else {
                    // A map the site names: its own file, a line of it.
                    prop_assert!(
                        Path::new(&error.file).starts_with(manifest_dir()),
                        "{}",
                        error
                    );
                    prop_assert!(error.line >= 1 && !error.message.is_empty(), "{}", error);
                }
            }
            Ok(())
        }
    }
}

proptest! {
    #![proptest_config(test_support::proptest_config(512))]

    #[test]
    fn any_text_is_a_map_or_an_error_at_a_line(text in prop_oneof![any::<String>(), "([a-z_]{1,6} = (\"[a-z0-9]{0,4}\"|-?[0-9]{1,20})\n|\\[\\[quantity\\]\\]\n){0,12}"]) {
        check_map(&text)?;
    }

    #[test]
    fn mutated_shipped_maps_never_panic(
        map in prop::sample::select(&["maps/eastron-sdm630.toml", "maps/eastron-sdm120.toml", "maps/carlo-gavazzi-em24.toml"][..]),
        mutations in vec(mutation(), 1..4),
    ) {
        check_map(&mutate(&shipped(map), &mutations))?;
    }

    #[test]
    fn any_text_is_a_site_or_an_error_at_a_line(text in any::<String>()) {
        check_site(&text)?;
    }

    #[test]
    fn mutated_example_sites_never_panic(mutations in vec(mutation(), 1..4)) {
        check_site(&mutate(&shipped("deploy/site.example.toml"), &mutations))?;
    }
}

#[test]
fn the_mutations_start_from_valid_files() {
    // Without a mutation, each file is accepted: the properties above
    // start from valid input, a step away from each rule.
    let path = manifest_dir().join("site.toml");
    assert!(config::parse(&path, &mutate(&shipped("deploy/site.example.toml"), &[])).is_ok());
    for map in [
        "eastron-sdm630.toml",
        "eastron-sdm120.toml",
        "carlo-gavazzi-em24.toml",
    ] {
        let text = mutate(&shipped(&format!("maps/{map}")), &[]);
        assert!(map::parse(map, map, &text).is_ok(), "{map}");
    }
}
