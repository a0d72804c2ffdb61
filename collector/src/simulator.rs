//! Simulated meters: an in-process Modbus server (TCP, or RTU over any
//! serial stream such as one end of a pseudo-terminal pair) holding
//! register images per unit id. The tests and the benchmarks read these
//! instead of real meters.

use crate::map::{RegisterKind, RegisterMap, encode};
use std::collections::{HashMap, HashSet};
use std::future::{Future, ready};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio_modbus::server::Service;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

/// One simulated device: its input and holding registers. A register never
/// set reads as 0 (as Eastron meters answer for registers they do not
/// list); a read that touches a refused register gets an exception
/// (illegal data address).
#[derive(Debug, Clone, Default)]
pub struct Device {
    pub input: HashMap<u16, u16>,
    pub holding: HashMap<u16, u16>,
    pub refused: HashSet<(RegisterKind, u16)>,
    /// Answer nothing at all (a dead meter).
    pub silent: bool,
    /// Answer every read with this exception: a TCP gateway asked for a
    /// unit it cannot reach (`GatewayTargetDevice`), or a device that is
    /// not the meter the map describes (`IllegalDataAddress`).
    pub exception: Option<ExceptionCode>,
}

impl Device {
    pub fn set(&mut self, kind: RegisterKind, address: u16, words: &[u16]) {
        let table = match kind {
            RegisterKind::Input => &mut self.input,
            RegisterKind::Holding => &mut self.holding,
        };
        for (i, word) in words.iter().enumerate() {
            table.insert(address + i as u16, *word);
        }
    }

    /// Sets every quantity of `map` (registers from `start_address`) to
    /// `value(quantity index)`, encoded as the map says (scale and offset
    /// undone).
    pub fn load(&mut self, map: &RegisterMap, start_address: u16, value: impl Fn(usize) -> f64) {
        for (i, q) in map.quantities.iter().enumerate() {
            let raw = (value(i) - q.offset) / q.scale;
            let raw = if matches!(
                q.ty,
                crate::map::ValueType::F32 | crate::map::ValueType::F64
            ) {
                raw
            } else {
                raw.round()
            };
            self.set(
                q.kind,
                start_address + q.address,
                &encode(raw, q.ty, q.order),
            );
        }
    }

    /// Reads touching `address` will be refused.
    pub fn refuse(&mut self, kind: RegisterKind, address: u16) {
        self.refused.insert((kind, address));
    }

    fn read(
        &self,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Result<Vec<u16>, ExceptionCode> {
        if let Some(exception) = self.exception {
            return Err(exception);
        }
        let table = match kind {
            RegisterKind::Input => &self.input,
            RegisterKind::Holding => &self.holding,
        };
        (0..count)
            .map(|i| match address.checked_add(i) {
                Some(a) if !self.refused.contains(&(kind, a)) => {
                    Ok(table.get(&a).copied().unwrap_or(0))
                }
                _ => Err(ExceptionCode::IllegalDataAddress),
            })
            .collect()
    }
}

/// The devices on one simulated bus (or behind one TCP endpoint), by unit
/// id; shared, so a test can change values while the server runs.
#[derive(Debug, Clone, Default)]
pub struct Devices {
    devices: Arc<Mutex<HashMap<u8, Device>>>,
    requests: Arc<AtomicU64>,
}

impl Devices {
    pub fn with(&self, unit: u8, change: impl FnOnce(&mut Device)) {
        let mut devices = self.devices.lock().unwrap();
        change(devices.entry(unit).or_default());
    }

    /// Requests received so far (answered, refused or ignored).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// The Modbus service over [`Devices`].
#[derive(Clone)]
struct Simulator {
    devices: Devices,
    /// When set, each answer waits for the time both frames would take on
    /// an RS-485 line at this baud rate (10 bits a byte), so that a
    /// pseudo-terminal, which has no speed, behaves like the wire.
    wire_baud: Option<u32>,
}

/// The wire time of a read request and its answer at `baud`.
pub fn wire_time(count: u16, baud: u32) -> std::time::Duration {
    let bytes = 8 + 5 + 2 * u64::from(count);
    std::time::Duration::from_micros(bytes * 10 * 1_000_000 / u64::from(baud))
}

impl Service for Simulator {
    type Request = SlaveRequest<'static>;
    type Response = Option<Response>;
    type Exception = ExceptionCode;
    type Future = Pin<Box<dyn Future<Output = Result<Option<Response>, ExceptionCode>> + Send>>;

    fn call(&self, request: Self::Request) -> Self::Future {
        let answer = self.answer(request);
        match (self.wire_baud, &answer) {
            (
                Some(baud),
                Ok(Some(
                    Response::ReadInputRegisters(words) | Response::ReadHoldingRegisters(words),
                )),
            ) => {
                let delay = wire_time(words.len() as u16, baud);
                Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    answer
                })
            }
            _ => Box::pin(ready(answer)),
        }
    }
}

impl Simulator {
    fn answer(&self, request: SlaveRequest<'static>) -> Result<Option<Response>, ExceptionCode> {
        self.devices.requests.fetch_add(1, Ordering::Relaxed);
        let devices = self.devices.devices.lock().unwrap();
        let Some(device) = devices.get(&request.slave).filter(|d| !d.silent) else {
            // Nobody at this address: silence, as on a real bus.
            return Ok(None);
        };
        match request.request {
            Request::ReadInputRegisters(address, count) => device
                .read(RegisterKind::Input, address, count)
                .map(|words| Some(Response::ReadInputRegisters(words))),
            Request::ReadHoldingRegisters(address, count) => device
                .read(RegisterKind::Holding, address, count)
                .map(|words| Some(Response::ReadHoldingRegisters(words))),
            _ => Err(ExceptionCode::IllegalFunction),
        }
    }
}

/// Serves `devices` over Modbus TCP on 127.0.0.1 (a free port); the
/// server runs until the runtime ends.
pub async fn serve_tcp(devices: Devices) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio_modbus::server::tcp::Server::new(listener);
    let service = Simulator {
        devices,
        wire_baud: None,
    };
    tokio::spawn(async move {
        let on_connected = |stream, _addr| {
            let service = service.clone();
            async move { Ok(Some((service, stream))) }
        };
        let _ = server.serve(&on_connected, |_error| {}).await;
    });
    Ok(addr)
}

/// Serves `devices` over Modbus RTU on `stream` (e.g. the master end of
/// `tokio_serial::SerialStream::pair()`); several unit ids share the line.
/// With `wire_baud`, answers take the wire time of a line at that speed.
pub fn serve_rtu(devices: Devices, stream: tokio_serial::SerialStream, wire_baud: Option<u32>) {
    let server = tokio_modbus::server::rtu::Server::new(stream);
    let service = Simulator { devices, wire_baud };
    tokio::spawn(async move {
        let _ = server.serve_forever(service).await;
    });
}

/// A pseudo-terminal pair standing in for an RS-485 line: `master` for
/// [`serve_rtu`], `device` the path the collector opens as its serial
/// port, as it opens a real one (exclusively).
pub struct PtyLine {
    pub master: tokio_serial::SerialStream,
    pub device: String,
    /// Keeps the terminal open (without the lock the pair's own end holds)
    /// so that the line does not hang up between users.
    _held: std::fs::File,
}

impl PtyLine {
    pub fn open() -> std::io::Result<PtyLine> {
        use tokio_serial::SerialPort;
        let (master, slave) = tokio_serial::SerialStream::pair()?;
        let device = slave
            .name()
            .ok_or_else(|| std::io::Error::other("the pseudo-terminal has no name"))?;
        let held = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&device)?;
        drop(slave);
        Ok(PtyLine {
            master,
            device,
            _held: held,
        })
    }
}

/// Readings `range` of a backlog of 100 meters (`m0` … `m99`) read every
/// 5 minutes from `start`, as a spool holds them after an outage: for
/// benchmarks.
pub fn backlog(start: i64, range: std::ops::Range<i64>) -> Vec<crate::spool::NewReading> {
    range
        .map(|n| crate::spool::NewReading {
            meter_id: format!("m{}", n % 100),
            ts: start + 300 * (n / 100),
            value: n as f64,
        })
        .collect()
}
