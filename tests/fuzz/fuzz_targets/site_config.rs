//! The collector's `site.toml` and register maps, as text: never a panic;
//! what is accepted stays within the protocol's bounds; every error names
//! the file and a line of it. The first byte says which file it is.

#![no_main]

use collector::{config, map};
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|input: &[u8]| {
    let Some((&which, rest)) = input.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let lines = text.matches('\n').count() + 1;
    if which % 2 == 0 {
        match map::parse("m.toml", "m.toml", text) {
            Ok(map) => {
                assert!(map.value < map.quantities.len());
                for q in &map.quantities {
                    assert!(q.registers().end <= 65_536, "{q:?}");
                    assert!(q.scale.is_finite() && q.scale != 0.0 && q.offset.is_finite());
                }
            }
            Err(error) => {
                assert_eq!(error.file, "m.toml");
                assert!((1..=lines).contains(&error.line), "{error}");
            }
        }
    } else {
        // Next to the shipped maps, as the collector's tests place it.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../collector/site.toml");
        match config::parse(&path, text) {
            Ok(config) => {
                for meter in &config.meters {
                    for read in &meter.plan {
                        assert!(u32::from(read.address) + u32::from(read.count) <= 65_536);
                        assert!(read.count <= collector::plan::MAX_REGISTERS_PER_READ);
                    }
                    assert!(meter.every >= 60 && 86_400 % meter.every == 0);
                }
                let batch = ingest_wire::Batch {
                    points: config.announcements(),
                    ..Default::default()
                };
                assert!(ingest_wire::check(&batch, 0).is_ok());
            }
            Err(errors) => {
                assert!(!errors.0.is_empty());
                for error in &errors.0 {
                    assert!(error.line >= 1, "{error}");
                    if error.file == path.display().to_string() {
                        assert!(error.line <= lines, "{error}");
                    }
                }
            }
        }
    }
});
