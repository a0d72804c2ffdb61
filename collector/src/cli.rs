//! What the `collector` commands print, and their exit codes. Part of the
//! binary only (`mod cli;` in main.rs), never of the library.

use anyhow::Context as _;
use collector::Config;
use collector::daemon::OnceReport;
use collector::inspect::{CheckReport, MeterProblem};
use collector::scan::{self, ScanSettings};
use collector::source::Fault;
use collector::source::MeterRead;
use collector::spool::SpoolStats;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// `collector run --once`: the counts; fails when the clock kept it from
/// reading or delivery stopped early.
pub fn once(report: &OnceReport) -> ExitCode {
    println!(
        "{} meters read ({} answered), {} readings spooled, {} delivered, {} pending",
        report.meters, report.answered, report.spooled, report.delivered, report.pending
    );
    if let Some(state) = &report.waiting_for_clock {
        println!("no meter read: the clock is {state}");
    }
    if let Some(why) = &report.retry {
        println!("delivery stopped: {why}");
    }
    if report.retry.is_none() && report.waiting_for_clock.is_none() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The first line of `collector check`, once the configuration is valid.
pub fn valid(config: &Config) {
    println!(
        "{}: valid, {} meters on {} buses",
        config.path.display(),
        config.meters.len(),
        config.buses.len()
    );
}

/// The rest of `collector check`: the token, the clock, every meter's
/// values, then one line per meter the collector would spool nothing for;
/// fails when there is one, or when the clock is not trusted.
pub fn check(config: &Config, report: &CheckReport) -> ExitCode {
    match &report.token {
        Ok(()) => println!("ingest token: found ({:?})", config.token),
        Err(why) => println!("ingest token: MISSING: {why}"),
    }
    let (now, clock) = &report.clock;
    println!("clock: {}, {clock}", ingest_wire::format_utc(*now));
    print!("{}", table(config, &report.reads));
    let problems = report.problems(&config.meters);
    for (meter, problem) in &problems {
        if let Some(line) = problem_line(config, *meter, problem) {
            println!("{line}");
        }
    }
    if problems.is_empty() && clock.is_trusted() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `meter01: no point value (total_energy): Modbus exception 2, Illegal
/// data address (unit 7 on bus gw)`.
fn problem_line(config: &Config, meter: usize, problem: &MeterProblem) -> Option<String> {
    let meter = config.meters.get(meter)?;
    let bus = config
        .buses
        .get(meter.bus)
        .map_or("?", |bus| bus.name.as_str());
    let what = match problem {
        MeterProblem::NotAnswering(Fault::Layout(why)) => format!("cannot be read: {why}"),
        MeterProblem::NotAnswering(fault) => format!("not answering: {fault}"),
        MeterProblem::NoPointValue { quantity, why } => {
            let name = meter
                .map
                .quantities
                .get(*quantity)
                .map_or("?", |q| q.name.as_str());
            format!("no point value ({name}): {why}")
        }
    };
    Some(format!(
        "{}: {what} (unit {} on bus {bus})",
        meter.id, meter.unit
    ))
}

/// `collector scan`: one bus, given as site.toml would give it.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// A Modbus TCP gateway or device, host:port.
    #[arg(long, conflicts_with = "serial", required_unless_present = "serial")]
    tcp: Option<String>,
    /// A serial port (RS-485 adapter), e.g. /dev/ttyUSB0.
    #[arg(long)]
    serial: Option<PathBuf>,
    #[arg(long, default_value_t = 9600)]
    baud: u32,
    /// none, even or odd.
    #[arg(long, default_value = "none")]
    parity: String,
    #[arg(long, default_value_t = 8)]
    data_bits: u8,
    #[arg(long, default_value_t = 1)]
    stop_bits: u8,
    /// The unit ids to probe: 1-247 (the default), 5-10 or 7.
    #[arg(long, default_value = "1-247")]
    ids: String,
    /// Per request; each id that does not answer costs this once.
    #[arg(long, default_value_t = 1000)]
    timeout_ms: u64,
    /// The register maps whose signatures identify devices.
    #[arg(long, default_value = "/etc/intellimeter/maps")]
    maps: PathBuf,
    /// The bus's name in the printed blocks ([bus.NAME], Port); by default
    /// the port's name (USB0 for /dev/ttyUSB0), or "gateway".
    #[arg(long)]
    bus: Option<String>,
}

impl ScanArgs {
    fn settings(self) -> anyhow::Result<ScanSettings> {
        use collector::config::{Bus, Link};
        let (link, default_name) = match (self.tcp, self.serial) {
            (Some(address), _) => {
                anyhow::ensure!(address.contains(':'), "--tcp {address:?} is not host:port");
                (Link::Tcp(address), "gateway".to_owned())
            }
            (None, Some(device)) => {
                let name = device
                    .file_name()
                    .and_then(|n| n.to_str())
                    .and_then(|n| n.strip_prefix("tty"))
                    .filter(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric()))
                    .unwrap_or("rs485")
                    .to_owned();
                let serial = collector::config::serial_settings(
                    device,
                    self.baud,
                    &self.parity,
                    self.data_bits,
                    self.stop_bits,
                )
                .map_err(|(field, why)| anyhow::anyhow!("--{}: {why}", field.replace('_', "-")))?;
                (Link::Serial(serial), name)
            }
            (None, None) => anyhow::bail!("give --tcp HOST:PORT or --serial DEVICE"),
        };
        let ids =
            scan::parse_ids(&self.ids, &link).map_err(|why| anyhow::anyhow!("--ids: {why}"))?;
        anyhow::ensure!(
            (10..=60_000).contains(&self.timeout_ms),
            "--timeout-ms: {} is not 10 to 60000",
            self.timeout_ms
        );
        let mut maps = Vec::new();
        let entries = std::fs::read_dir(&self.maps)
            .with_context(|| format!("cannot read the maps folder {}", self.maps.display()))?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            maps.push(collector::map::load(&path)?);
        }
        Ok(ScanSettings {
            bus: Bus {
                name: self.bus.unwrap_or(default_name),
                link,
            },
            ids,
            timeout: Duration::from_millis(self.timeout_ms),
            maps,
        })
    }
}

/// `collector scan`: the worst case first and each device as it is found
/// (standard error), then the site.toml blocks (standard output, so that
/// `collector scan … >> site.toml` works). Fails when the bus cannot be
/// opened; finding nothing is not a failure.
pub async fn scan(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let settings = args.settings()?;
    let ids = settings.ids.clone().count();
    let link = match &settings.bus.link {
        collector::config::Link::Tcp(address) => format!("Modbus TCP {address}"),
        collector::config::Link::Serial(serial) => format!(
            "{} (RTU, {} baud, {} data bits, parity {:?}, {} stop bits)",
            serial.device.display(),
            serial.baud,
            serial.data_bits,
            serial.parity,
            serial.stop_bits
        ),
    };
    eprintln!(
        "Scanning {ids} unit ids ({}-{}) on {link}, one request at a time, {} ms timeout, {} maps.",
        settings.ids.start(),
        settings.ids.end(),
        settings.timeout.as_millis(),
        settings.maps.len()
    );
    eprintln!(
        "Worst case: {} if no id answers ({ids} x {} ms), plus at most {} requests for each device that answers.",
        scan::human(settings.worst_case_absent()),
        settings.timeout.as_millis(),
        settings.requests_per_device()
    );
    let report = scan::scan(&settings, |found| eprintln!("{}", scan::describe(found))).await?;
    eprintln!(
        "Done in {}: {} of {ids} ids answered.",
        scan::human(report.elapsed),
        report.found.len()
    );
    if let Some(why) = &report.stopped {
        eprintln!("Stopped early: {why}.");
    }
    print!("{}", scan::site_blocks(&settings, &report));
    Ok(ExitCode::SUCCESS)
}

/// `collector spool`: the counts, the oldest pending reading's time, and
/// why each kind of reading that is not pending is (or is not) kept.
pub fn spool(config: &Config, stats: &SpoolStats) {
    let row = |label: &str, value: String| println!("{label:<16}{value}");
    row("spool", config.spool.display().to_string());
    row("pending", stats.pending.to_string());
    row(
        "oldest pending",
        stats
            .oldest_pending
            .map_or("none".to_owned(), ingest_wire::format_utc),
    );
    row(
        "quarantined",
        format!(
            "{} (refused: kept, never sent again; see --quarantined)",
            stats.quarantined
        ),
    );
    row(
        "delivered",
        format!("{} (acknowledged by the server: not kept)", stats.delivered),
    );
    let full = if stats.dropped > 0 {
        " (the spool was full)"
    } else {
        ""
    };
    row("dropped", format!("{}{full}", stats.dropped));
}

/// `collector spool --quarantined`: one line per quarantined reading.
pub fn quarantined(readings: &[(String, i64, f64, String)]) {
    for (meter, ts, value, reason) in readings {
        println!(
            "{meter}\t{}\t{value}\t{reason}",
            ingest_wire::format_utc(*ts)
        );
    }
}

/// The table `collector check` prints: one row per quantity of each meter
/// that answered, one per meter that did not.
fn table(config: &Config, reads: &[MeterRead]) -> String {
    let mut rows = vec![[
        "METER".to_owned(),
        "BUS".to_owned(),
        "UNIT".to_owned(),
        "QUANTITY".to_owned(),
        "VALUE".to_owned(),
    ]];
    for read in reads {
        let Some(meter) = config.meters.get(read.meter) else {
            continue;
        };
        let head = [
            meter.id.clone(),
            config
                .buses
                .get(meter.bus)
                .map_or_else(String::new, |bus| bus.name.clone()),
            meter.unit.to_string(),
        ];
        if let Some(fault) = &read.fault {
            rows.push([
                head[0].clone(),
                head[1].clone(),
                head[2].clone(),
                "-".into(),
                format!("NOT ANSWERING: {fault}"),
            ]);
            continue;
        }
        for (q, quantity) in meter.map.quantities.iter().enumerate() {
            let mark = if q == meter.map.value {
                " (the point's value)"
            } else {
                ""
            };
            let value = match read.values.get(q) {
                Some(Ok(v)) => format!("{v} {}{mark}", quantity.unit),
                _ => format!("(no value){mark}"),
            };
            rows.push([
                head[0].clone(),
                head[1].clone(),
                head[2].clone(),
                quantity.name.clone(),
                value,
            ]);
        }
    }
    let widths: Vec<usize> = (0..5)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::source::{Fault, NoValue};
    use std::time::Duration;

    #[test]
    fn the_check_table_aligns_its_columns_and_marks_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("two.toml"),
            "meter = \"two\"\nvalue = \"energy\"\n\
             [[quantity]]\nname = \"voltage\"\nkind = \"input\"\naddress = 0\ntype = \"f32\"\nunit = \"V\"\n\
             [[quantity]]\nname = \"energy\"\nkind = \"input\"\naddress = 2\ntype = \"f32\"\nunit = \"kWh\"\n",
        )
        .unwrap();
        let site = dir.path().join("site.toml");
        std::fs::write(
            &site,
            "server = \"http://127.0.0.1:9\"\ntoken_env = \"NOBODY\"\nspool = \"spool.sqlite\"\nmaps = \".\"\n\
             [bus.gateway]\ntcp = \"127.0.0.1:9\"\n\
             [[meter]]\nMeterId = \"kitchen\"\nModbusId = 1\nPort = \"gateway\"\nModbusMap = \"two.toml\"\nSaveEvery = 5\n\
             [[meter]]\nMeterId = \"gone\"\nModbusId = 12\nPort = \"gateway\"\nModbusMap = \"two.toml\"\nSaveEvery = 5\n",
        )
        .unwrap();
        let config = collector::config::load(&site).unwrap();
        let reads = [
            MeterRead {
                meter: 0,
                values: vec![Err(NoValue::Exception(2)), Ok(70.5)],
                fault: None,
            },
            MeterRead {
                meter: 1,
                values: vec![Err(NoValue::NotRead); 2],
                fault: Some(Fault::Timeout(Duration::from_millis(300))),
            },
        ];
        assert_eq!(
            table(&config, &reads),
            "METER    BUS      UNIT  QUANTITY  VALUE\n\
             kitchen  gateway  1     voltage   (no value)\n\
             kitchen  gateway  1     energy    70.5 kWh (the point's value)\n\
             gone     gateway  12    -         NOT ANSWERING: no answer within 300 ms\n"
        );
    }
}
