//! `collector run | check | spool`: see README.md, "The site collector".

use clap::{Parser, Subcommand};
use collector::{config, daemon};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "collector",
    version,
    about = "Reads the site's meters and delivers their readings to the Intellimeter API"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read meters on their boundaries and deliver readings until stopped.
    Run {
        #[arg(long, default_value = "/etc/intellimeter/site.toml")]
        config: PathBuf,
        /// One cycle now (every meter once), deliver what is pending, exit.
        #[arg(long)]
        once: bool,
    },
    /// Validate the configuration and maps, read every meter once, print the values.
    Check {
        #[arg(long, default_value = "/etc/intellimeter/site.toml")]
        config: PathBuf,
    },
    /// What the spool holds: pending, quarantined, oldest pending.
    Spool {
        #[arg(long, default_value = "/etc/intellimeter/site.toml")]
        config: PathBuf,
        /// List the quarantined readings and why the server refused them.
        #[arg(long)]
        quarantined: bool,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async_main(cli.command));
    // An upload still in flight is abandoned (its batch stays pending).
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("collector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> anyhow::Result<config::Config> {
    config::load(path).map_err(|error| anyhow::anyhow!("the configuration is not valid:\n{error}"))
}

async fn async_main(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            once: false,
        } => {
            let config = load(&config)?;
            tracing::info!(meters = config.meters.len(), buses = config.buses.len(), server = %config.server, "collector starting");
            daemon::run(config, shutdown_signal()).await?;
            tracing::info!("collector stopped");
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config, once: true } => {
            let config = load(&config)?;
            let report = daemon::run_once(&config).await?;
            println!(
                "{} meters read ({} answered), {} readings spooled, {} delivered, {} pending",
                report.meters, report.answered, report.spooled, report.delivered, report.pending
            );
            if let Some(why) = report.retry {
                println!("delivery stopped: {why}");
                return Ok(ExitCode::FAILURE);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config } => {
            let config = load(&config)?;
            println!(
                "{}: valid, {} meters on {} buses",
                config.path.display(),
                config.meters.len(),
                config.buses.len()
            );
            match config.token.read() {
                Ok(_) => println!("ingest token: found ({:?})", config.token),
                Err(why) => println!("ingest token: MISSING: {why}"),
            }
            let reads = daemon::read_all(&config).await;
            print!("{}", daemon::table(&config, &reads));
            let silent = reads.iter().filter(|r| r.fault.is_some()).count();
            Ok(if silent == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Spool {
            config,
            quarantined,
        } => {
            let config = load(&config)?;
            let spool = daemon::open_spool(&config)?;
            let stats = spool.stats()?;
            println!("spool       {}", config.spool.display());
            println!("pending     {}", stats.pending);
            println!("quarantined {}", stats.quarantined);
            println!(
                "oldest      {}",
                stats
                    .oldest_pending
                    .map_or("-".to_owned(), ingest_wire::format_utc)
            );
            println!("delivered   {}", stats.delivered);
            println!(
                "dropped     {}{}",
                stats.dropped,
                if stats.dropped > 0 {
                    " (the spool was full)"
                } else {
                    ""
                }
            );
            if quarantined {
                for (meter, ts, value, reason) in spool.quarantined()? {
                    println!(
                        "{meter}\t{}\t{value}\t{reason}",
                        ingest_wire::format_utc(ts)
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
}
