//! `test-host [--listen 127.0.0.1:3000] [--state-dir .spin-test-host]
//! [--var name=value]... [path/to/spin.toml]`: serves a Spin app like
//! `spin up` until Ctrl-C.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use test_host::HostConfig;

const USAGE: &str =
    "usage: test-host [--listen ADDR] [--state-dir DIR] [--var NAME=VALUE]... [SPIN_TOML]";

fn parse_args() -> Result<HostConfig> {
    let mut config = HostConfig {
        manifest_path: PathBuf::from("spin.toml"),
        state_dir: PathBuf::from(".spin-test-host"),
        listen: "127.0.0.1:3000".parse()?,
        variables: BTreeMap::new(),
    };
    let mut manifest = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--listen" => config.listen = value("--listen")?.parse().context("invalid --listen")?,
            "--state-dir" => config.state_dir = value("--state-dir")?.into(),
            "--var" => {
                let pair = value("--var")?;
                let (name, val) = pair
                    .split_once('=')
                    .with_context(|| format!("--var expects NAME=VALUE, got {pair:?}"))?;
                config.variables.insert(name.to_owned(), val.to_owned());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => bail!("unknown option {flag}\n{USAGE}"),
            path if manifest.is_none() => manifest = Some(PathBuf::from(path)),
            extra => bail!("unexpected argument {extra:?}\n{USAGE}"),
        }
    }
    if let Some(manifest) = manifest {
        config.manifest_path = manifest;
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> Result<()> {
    let config = parse_args()?;
    let app = test_host::serve(config).await?;
    println!("Serving {}", app.base_url());
    println!("Available Routes:");
    for line in app.available_routes() {
        println!("{line}");
    }
    tokio::signal::ctrl_c().await?;
    app.shutdown().await;
    Ok(())
}
