//! Prints numbers, asserts nothing: `cargo bench -p collector --bench maps`
//! (a few seconds).
//!
//! For every register map in `collector/maps/`, one read cycle of one
//! meter with the planned merged reads next to one request per quantity:
//! requests, bytes on a Modbus TCP connection (ADU: the 7-byte MBAP header
//! and the PDU, request and answer), bytes on an RS-485 line (RTU ADU), the
//! wire time of those RTU bytes at 9600 baud 8N1 with the 3.5-character
//! silence before each frame, and the measured time of a cycle over
//! loopback TCP against the in-process simulator.

#[path = "../tests/common/mod.rs"]
mod common;

use collector::bus::Fleet;
use collector::config;
use collector::map::{self, RegisterMap};
use collector::plan::{PlannedRead, one_per_quantity, plan, rtu_bytes};
use collector::simulator::{Devices, serve_tcp};
use common::*;
use std::time::{Duration, Instant};

/// Bytes of `reads` on Modbus TCP: each request is MBAP (7) + function,
/// address and count (5); each answer MBAP (7) + function, byte count (2)
/// and 2 per register.
fn tcp_bytes(reads: &[PlannedRead]) -> u64 {
    reads.iter().map(|r| 12 + 9 + 2 * u64::from(r.count)).sum()
}

/// Wire time of `reads` at 9600 baud, 10 bits a character, with the
/// 3.5-character silence before each of the two frames of a read.
fn rtu_time_9600(reads: &[PlannedRead]) -> Duration {
    let characters = rtu_bytes(reads) as f64 + 2.0 * 3.5 * reads.len() as f64;
    Duration::from_secs_f64(characters * 10.0 / 9600.0)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut files: Vec<String> = std::fs::read_dir(shipped_maps())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    println!(
        "One meter, one cycle: planned merged reads | one request per quantity\n\
         {:<27} {:>3} | {:>4} {:>4} | {:>5} {:>5} | {:>5} {:>5} | {:>7} {:>7} | {:>7} {:>7}",
        "map",
        "qty",
        "req",
        "req1",
        "TCP B",
        "TCP1",
        "RTU B",
        "RTU1",
        "9600 ms",
        "9600 1",
        "TCP µs",
        "TCP1 µs"
    );
    let (mut sum_planned, mut sum_naive) = ((0u64, 0u64), (0u64, 0u64));
    for file in &files {
        let m = map::load(&shipped_maps().join(file)).unwrap();
        let (planned, naive) = (plan(&m, 0), one_per_quantity(&m, 0));
        let (t_planned, t_naive) = runtime.block_on(measure(file, &m));
        println!(
            "{:<27} {:>3} | {:>4} {:>4} | {:>5} {:>5} | {:>5} {:>5} | {:>7.1} {:>7.1} | {:>7.0} {:>7.0}",
            file,
            m.quantities.len(),
            planned.len(),
            naive.len(),
            tcp_bytes(&planned),
            tcp_bytes(&naive),
            rtu_bytes(&planned),
            rtu_bytes(&naive),
            rtu_time_9600(&planned).as_secs_f64() * 1e3,
            rtu_time_9600(&naive).as_secs_f64() * 1e3,
            t_planned.as_secs_f64() * 1e6,
            t_naive.as_secs_f64() * 1e6,
        );
        sum_planned.0 += planned.len() as u64;
        sum_planned.1 += rtu_bytes(&planned);
        sum_naive.0 += naive.len() as u64;
        sum_naive.1 += rtu_bytes(&naive);
    }
    println!(
        "All {} maps: {} requests and {} RTU bytes a cycle planned, {} and {} one per quantity ({:.1}x fewer requests)",
        files.len(),
        sum_planned.0,
        sum_planned.1,
        sum_naive.0,
        sum_naive.1,
        sum_naive.0 as f64 / sum_planned.0 as f64
    );
}

/// Mean time of one read cycle of a simulated meter of map `m` over
/// loopback TCP: with the planned reads, then with one read per quantity.
async fn measure(file: &str, m: &RegisterMap) -> (Duration, Duration) {
    let devices = Devices::default();
    devices.with(1, |d| d.load(m, 0, |q| 100.0 + q as f64));
    let addr = serve_tcp(devices).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let site = write_site(
        dir.path(),
        "http://127.0.0.1:9",
        &shipped_maps(),
        &format!(
            "[bus.gw]\ntcp = \"{addr}\"\n\n[[meter]]\nMeterId = \"m\"\nModbusId = 1\nPort = \"gw\"\nModbusMap = \"{file}\"\nSaveEvery = 5\n"
        ),
    );
    let mut timings = Vec::new();
    for naive in [false, true] {
        let mut config = config::load(&site).unwrap();
        if naive {
            config.meters[0].plan = one_per_quantity(m, 0);
        }
        let mut fleet = Fleet::new(&config);
        fleet.poll(&[0]).await; // connects
        let cycles = 10;
        let started = Instant::now();
        for _ in 0..cycles {
            let reads = fleet.poll(&[0]).await;
            assert!(reads[0].fault.is_none(), "{file}: {:?}", reads[0].fault);
        }
        timings.push(started.elapsed() / cycles);
    }
    (timings[0], timings[1])
}
