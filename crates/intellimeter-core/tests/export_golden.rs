//! The `/file` export formats against golden files in `tests/golden/`,
//! byte for byte, through the public API only.
//!
//! After an intended change of output, regenerate the files with
//! `UPDATE_GOLDEN=1 cargo test -p intellimeter-core --test export_golden`
//! and review the diff of `tests/golden/` before committing it.

use intellimeter_core::format::Format;
use intellimeter_core::format::export::ExportWriter;
use intellimeter_core::format::row::ExportRow;
use std::path::PathBuf;

/// Rows that exercise each format's escaping and number writing.
const ROWS: [ExportRow<'static>; 7] = [
    ExportRow {
        meter: "meter1",
        time: "2019-10-30 13:15:00",
        value: 28540.24,
    },
    ExportRow {
        // A comma and quotes.
        meter: "Hall, \"North\"",
        time: "2019-10-30 13:30:00",
        value: 0.0,
    },
    ExportRow {
        // A spreadsheet formula.
        meter: "=SUM(A1:A9)",
        time: "2019-10-30 13:45:00",
        value: 1e20,
    },
    ExportRow {
        // Starts with `-`: a formula to a spreadsheet too.
        meter: "-Pump 2",
        time: "2019-10-30 14:00:00",
        value: -12.5,
    },
    ExportRow {
        // Non-ASCII.
        meter: "Compteur é",
        time: "2019-10-31 00:00:00",
        value: 35757.359,
    },
    ExportRow {
        // A YAML 1.1 boolean.
        meter: "yes",
        time: "2019-10-31 00:15:00",
        value: 5.0,
    },
    ExportRow {
        // Markup characters and a line break.
        meter: "Basement <B2> & 'co'\nline 2",
        time: "2019-10-31 00:30:00",
        value: 1e-5,
    },
];

fn render(format: Format) -> Vec<u8> {
    let mut writer = ExportWriter::new(format);
    let mut file = Vec::new();
    // Sent piece by piece, as the route streams it.
    let mut piece = Vec::new();
    writer.begin(&mut piece);
    file.append(&mut piece);
    for row in &ROWS {
        writer.row(&mut piece, row);
        file.append(&mut piece);
    }
    writer.end(&mut piece);
    file.append(&mut piece);
    assert_eq!(writer.rows_written(), ROWS.len() as u64);
    file
}

#[track_caller]
fn check(format: Format) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "golden",
        &format!("export.{}", format.extension()),
    ]
    .iter()
    .collect();
    let actual = render(format);
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|value| value == "1") {
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path)
        .unwrap_or_else(|error| panic!("{}: {error} (UPDATE_GOLDEN=1 writes it)", path.display()));
    if actual == expected {
        return;
    }
    let actual = String::from_utf8_lossy(&actual);
    let expected = String::from_utf8_lossy(&expected);
    // JSON and XML are one line: compare them split after each `>` or `,`.
    let lines = |text: &str| -> Vec<String> {
        text.split_inclusive(['\n', '>', ','])
            .map(|line| format!("{line:?}"))
            .collect()
    };
    let (actual_lines, expected_lines) = (lines(&actual), lines(&expected));
    let at = actual_lines
        .iter()
        .zip(&expected_lines)
        .position(|(a, e)| a != e)
        .unwrap_or(actual_lines.len().min(expected_lines.len()));
    panic!(
        "{} differs from the output at piece {at}:\n  expected: {}\n    actual: {}\n\
         whole output:\n{actual}\n(UPDATE_GOLDEN=1 rewrites the file)",
        path.display(),
        expected_lines.get(at).map_or("<end>", String::as_str),
        actual_lines.get(at).map_or("<end>", String::as_str),
    );
}

#[test]
fn csv_matches_golden() {
    check(Format::Csv);
}

#[test]
fn json_matches_golden() {
    check(Format::Json);
}

#[test]
fn xml_matches_golden() {
    check(Format::Xml);
}

#[test]
fn yaml_matches_golden() {
    check(Format::Yaml);
}
