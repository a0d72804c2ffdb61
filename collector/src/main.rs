//! `collector run | check | spool | scan` (README.md, "The site collector";
//! SCAN.md for `scan`): the
//! command line, what it prints (`cli.rs`) and the exit codes; the work is
//! the library's.

mod cli;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;
use tokio::signal::unix::{Signal, SignalKind, signal};

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
    /// Find the devices on a bus and print [[meter]] blocks for site.toml (SCAN.md).
    Scan(cli::ScanArgs),
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
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("collector: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(execute(cli.command));
    // An upload still in flight is abandoned (its batch stays pending).
    runtime.shutdown_timeout(Duration::from_millis(100));
    result.unwrap_or_else(|error| {
        eprintln!("collector: {error:#}");
        ExitCode::FAILURE
    })
}

async fn execute(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Run {
            config,
            once: false,
        } => {
            let config = load(&config)?;
            let terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
            collector::run(config, shutdown_signal(terminate)).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { config, once: true } => {
            let report = collector::run_once(&load(&config)?).await?;
            Ok(cli::once(&report))
        }
        Command::Check { config } => {
            let config = load(&config)?;
            cli::valid(&config);
            let report = collector::check(&config).await;
            Ok(cli::check(&config, &report))
        }
        Command::Spool {
            config,
            quarantined,
        } => {
            let config = load(&config)?;
            cli::spool(&config, &collector::spool_summary(&config)?);
            if quarantined {
                cli::quarantined(&collector::quarantined(&config)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Scan(args) => cli::scan(args).await,
    }
}

fn load(path: &Path) -> anyhow::Result<collector::Config> {
    collector::config::load(path)
        .map_err(|error| anyhow::anyhow!("the configuration is not valid:\n{error}"))
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn shutdown_signal(mut terminate: Signal) {
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM: stopping"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: stopping"),
    }
}
