//! Reading meters. Each bus is read by one [`BusReader`]: one request at a
//! time, with the inter-frame gap of its baud rate on RS-485; buses are
//! read concurrently ([`Fleet::poll`]). A device exception (the meter
//! answered "no") skips the quantity and is counted; a transport fault
//! (no connection, broken frame) drops the connection, which is made again
//! with back-off. A meter that does not answer in its timeout is given up
//! for this cycle, so it costs its bus at most one timeout. [`Fleet`] is
//! the [`MeterSource`] that ships.

use crate::backoff::Backoff;
use crate::config::{Bus, Config, Link, Meter, ModbusSettings, Parity, SerialSettings};
use crate::map::{Decoded, RegisterKind};
use crate::plan::PlannedRead;
use crate::source::{Fault, MeterRead, MeterSource, NoValue};
use crate::spool::NewReading;
use crate::sunspec;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

/// Counters of a bus since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BusStats {
    pub requests: u64,
    pub exceptions: u64,
    pub timeouts: u64,
    pub faults: u64,
}

struct MeterState {
    meter: usize,
    /// The meter's reads; a merged read the meter refused is replaced by
    /// one read per quantity.
    plan: Vec<PlannedRead>,
    answering: bool,
    /// A SunSpec meter's model, once discovery found it.
    sunspec: Option<sunspec::Model>,
}

/// One bus and the meters on it.
pub struct BusReader {
    pub name: String,
    link: Link,
    context: Option<Context>,
    /// Silence before each frame (RTU); zero on TCP.
    gap: Duration,
    last_frame: Option<Instant>,
    timeout: Duration,
    retries: u32,
    reconnect: Backoff,
    next_connect: Option<(Instant, String)>,
    meters: Vec<MeterState>,
    pub stats: BusStats,
}

impl BusReader {
    pub fn new(bus: &Bus, config: &Config) -> BusReader {
        let mut reader = BusReader::standalone(bus, &config.modbus);
        reader.meters = config
            .meters
            .iter()
            .enumerate()
            .filter(|(_, m)| config.buses[m.bus].name == bus.name)
            .map(|(index, m)| MeterState {
                meter: index,
                plan: m.plan.clone(),
                answering: true,
                sunspec: None,
            })
            .collect();
        reader
    }

    /// A bus with no meters of its own, for requests of the caller's
    /// choosing (`collector scan`).
    pub fn standalone(bus: &Bus, modbus: &ModbusSettings) -> BusReader {
        let gap = match &bus.link {
            Link::Serial(serial) => serial.inter_frame_gap(),
            Link::Tcp(_) => Duration::ZERO,
        };
        BusReader {
            name: bus.name.clone(),
            link: bus.link.clone(),
            context: None,
            gap,
            last_frame: None,
            timeout: Duration::from_millis(modbus.timeout_ms),
            retries: modbus.retries,
            reconnect: Backoff::new(
                Duration::from_millis(modbus.reconnect_min_ms),
                Duration::from_millis(modbus.reconnect_max_ms),
            ),
            next_connect: None,
            meters: Vec::new(),
            stats: BusStats::default(),
        }
    }

    fn is_tcp(&self) -> bool {
        matches!(self.link, Link::Tcp(_))
    }

    pub(crate) async fn connect(&mut self) -> Result<(), Fault> {
        if self.context.is_some() {
            return Ok(());
        }
        if let Some((at, why)) = &self.next_connect
            && Instant::now() < *at
        {
            return Err(Fault::Down(why.clone()));
        }
        let connected = match &self.link {
            Link::Tcp(address) => {
                match tokio::time::timeout(self.timeout, tokio::net::TcpStream::connect(address))
                    .await
                {
                    Ok(Ok(stream)) => {
                        let _ = stream.set_nodelay(true);
                        Ok(tokio_modbus::client::tcp::attach(stream))
                    }
                    Ok(Err(error)) => Err(format!("cannot connect to {address}: {error}")),
                    Err(_) => Err(format!(
                        "cannot connect to {address} within {} ms",
                        self.timeout.as_millis()
                    )),
                }
            }
            Link::Serial(serial) => open_serial(serial)
                .map(tokio_modbus::client::rtu::attach)
                .map_err(|error| format!("cannot open {}: {error}", serial.device.display())),
        };
        match connected {
            Ok(context) => {
                self.context = Some(context);
                self.next_connect = None;
                self.reconnect.reset();
                Ok(())
            }
            Err(why) => {
                self.next_connect =
                    Some((Instant::now() + self.reconnect.next_delay(), why.clone()));
                Err(Fault::Link(why))
            }
        }
    }

    /// Drops the connection (or serial port) until the next request.
    pub(crate) fn close(&mut self) {
        self.context = None;
    }

    fn disconnect(&mut self, why: String) {
        self.context = None;
        // The first reconnection is at once, later ones back off.
        let delay = if self.reconnect.failures() == 0 {
            self.reconnect.next_delay();
            Duration::ZERO
        } else {
            self.reconnect.next_delay()
        };
        self.next_connect = Some((Instant::now() + delay, why));
    }

    /// One read request: the registers, the device's exception, or a fault.
    pub(crate) async fn request(
        &mut self,
        unit: u8,
        kind: RegisterKind,
        address: u16,
        count: u16,
    ) -> Result<Result<Vec<u16>, ExceptionCode>, Fault> {
        let mut attempt = 0;
        loop {
            self.connect().await?;
            if let Some(last) = self.last_frame {
                tokio::time::sleep_until(last + self.gap).await;
            }
            let Some(context) = self.context.as_mut() else {
                return Err(Fault::Down("not connected".to_owned()));
            };
            context.set_slave(Slave(unit));
            self.stats.requests += 1;
            let answer = tokio::time::timeout(self.timeout, async move {
                match kind {
                    RegisterKind::Input => context.read_input_registers(address, count).await,
                    RegisterKind::Holding => context.read_holding_registers(address, count).await,
                }
            })
            .await;
            self.last_frame = Some(Instant::now());
            match answer {
                Ok(Ok(Ok(words))) if words.len() == usize::from(count) => return Ok(Ok(words)),
                Ok(Ok(Ok(words))) => {
                    self.stats.faults += 1;
                    let why = format!("asked for {count} registers, got {}", words.len());
                    if attempt >= self.retries {
                        return Err(Fault::Link(why));
                    }
                }
                Ok(Ok(Err(exception))) => {
                    self.stats.exceptions += 1;
                    return Ok(Err(exception));
                }
                Err(_) => {
                    self.stats.timeouts += 1;
                    // A late answer on TCP would be taken for the next one's.
                    if self.is_tcp() {
                        self.context = None;
                    }
                    return Err(Fault::Timeout(self.timeout));
                }
                Ok(Err(error)) => {
                    self.stats.faults += 1;
                    let why = error.to_string();
                    if self.is_tcp() || matches!(error, tokio_modbus::Error::Transport(_)) {
                        self.disconnect(why.clone());
                    }
                    if attempt >= self.retries {
                        return Err(Fault::Link(why));
                    }
                }
            }
            attempt += 1;
        }
    }

    /// Reads the meter of `state_index` once.
    async fn read_meter(&mut self, state_index: usize, meter: &Meter) -> MeterRead {
        let (values, fault) = match &meter.sunspec {
            Some(selection) => self.read_sunspec(state_index, meter, selection).await,
            None => self.read_planned(state_index, meter).await,
        };
        let state = &mut self.meters[state_index];
        match (&fault, state.answering) {
            (Some(why), true) => {
                tracing::warn!(meter = %meter.id, bus = %self.name, "meter stopped answering: {why}");
                state.answering = false;
            }
            (None, false) => {
                tracing::info!(meter = %meter.id, bus = %self.name, "meter answers again");
                state.answering = true;
            }
            _ => {}
        }
        MeterRead {
            meter: state.meter,
            values,
            fault,
        }
    }

    /// A SunSpec meter: its chain discovered when it is first reachable
    /// (and again when its model moved), then its model read whole.
    async fn read_sunspec(
        &mut self,
        state_index: usize,
        meter: &Meter,
        selection: &sunspec::Selection,
    ) -> (Vec<Result<f64, NoValue>>, Option<Fault>) {
        let not_read = vec![Err(NoValue::NotRead); meter.map.quantities.len()];
        let unit = meter.unit;
        let model = match self.meters[state_index].sunspec {
            Some(model) => model,
            None => {
                let found = sunspec::discover(&mut self.unit(unit), &selection.bases).await;
                let device = match found {
                    Ok(device) => device,
                    Err(sunspec::SunSpecError::Fault(fault)) => return (not_read, Some(fault)),
                    Err(error) => return (not_read, Some(Fault::Layout(error.to_string()))),
                };
                let Some(model) = device.select(selection.model) else {
                    let wanted = selection
                        .model
                        .map_or("no model the collector reads".to_owned(), |id| {
                            format!("no model {id}")
                        });
                    let why = format!(
                        "{wanted} in its SunSpec chain (models {})",
                        device.model_ids()
                    );
                    return (not_read, Some(Fault::Layout(why)));
                };
                tracing::info!(
                    meter = %meter.id, bus = %self.name,
                    "SunSpec device at {}: {}, models {}; reading model {} at {}",
                    device.base, device.identity, device.model_ids(), model.id, model.address
                );
                self.meters[state_index].sunspec = Some(model);
                model
            }
        };
        match sunspec::read(&mut self.unit(unit), &model).await {
            Ok(values) => (values, None),
            Err(error) => {
                // Whatever went wrong, the chain is read again next time.
                self.meters[state_index].sunspec = None;
                match error {
                    sunspec::SunSpecError::Fault(fault) => (not_read, Some(fault)),
                    sunspec::SunSpecError::Exception(code) => (
                        vec![Err(NoValue::Exception(u8::from(code))); not_read.len()],
                        None,
                    ),
                    sunspec::SunSpecError::Layout(error) => {
                        (not_read, Some(Fault::Layout(error.to_string())))
                    }
                }
            }
        }
    }

    /// The holding registers of `unit` on this bus.
    pub fn unit(&mut self, unit: u8) -> UnitRegisters<'_> {
        UnitRegisters { bus: self, unit }
    }

    /// A meter with a register map, along its plan.
    async fn read_planned(
        &mut self,
        state_index: usize,
        meter: &Meter,
    ) -> (Vec<Result<f64, NoValue>>, Option<Fault>) {
        let mut values = vec![Err(NoValue::NotRead); meter.map.quantities.len()];
        let mut fault = None;
        let mut step = 0;
        while step < self.meters[state_index].plan.len() {
            let read = self.meters[state_index].plan[step].clone();
            match self
                .request(meter.unit, read.kind, read.address, read.count)
                .await
            {
                Ok(Ok(words)) => {
                    for &(q, offset) in &read.quantities {
                        let quantity = &meter.map.quantities[q];
                        let at = usize::from(offset);
                        values[q] = match quantity
                            .value(&words[at..at + usize::from(quantity.ty.registers())])
                        {
                            Decoded::Value(value) => Ok(value),
                            Decoded::Sentinel => Err(NoValue::Sentinel),
                            Decoded::NotANumber => Err(NoValue::NotANumber),
                        };
                    }
                    step += 1;
                }
                Ok(Err(exception)) if read.quantities.len() > 1 => {
                    // The meter refuses the merged read (a bridged gap it
                    // does not implement): from now on, one read each.
                    tracing::info!(
                        meter = %meter.id, bus = %self.name,
                        "meter refused {} registers from {} ({exception:?}); reading its quantities one by one",
                        read.count, read.address
                    );
                    let singles: Vec<PlannedRead> = read
                        .quantities
                        .iter()
                        .map(|&(q, offset)| PlannedRead {
                            kind: read.kind,
                            address: read.address + offset,
                            count: meter.map.quantities[q].ty.registers(),
                            quantities: vec![(q, 0)],
                        })
                        .collect();
                    self.meters[state_index].plan.splice(step..=step, singles);
                }
                Ok(Err(exception)) => {
                    let q = read.quantities[0].0;
                    tracing::debug!(meter = %meter.id, quantity = %meter.map.quantities[q].name, "device exception {exception:?}: skipped");
                    values[q] = Err(NoValue::Exception(u8::from(exception)));
                    step += 1;
                }
                Err(error) => {
                    fault = Some(error);
                    break;
                }
            }
        }
        (values, fault)
    }

    /// Reads the due meters of this bus, one after the other.
    pub async fn poll(&mut self, meters: &[Meter], due: &[bool]) -> Vec<MeterRead> {
        let mut reads = Vec::new();
        for state_index in 0..self.meters.len() {
            let meter = self.meters[state_index].meter;
            if due[meter] {
                reads.push(self.read_meter(state_index, &meters[meter]).await);
            }
        }
        reads
    }
}

/// One unit's holding registers on a bus, for [`sunspec`]'s reads.
pub struct UnitRegisters<'a> {
    bus: &'a mut BusReader,
    unit: u8,
}

impl sunspec::Registers for UnitRegisters<'_> {
    async fn read_holding(&mut self, address: u16, count: u16) -> sunspec::Answer {
        self.bus
            .request(self.unit, RegisterKind::Holding, address, count)
            .await
    }
}

fn open_serial(serial: &SerialSettings) -> tokio_serial::Result<tokio_serial::SerialStream> {
    use tokio_serial::SerialPortBuilderExt;
    let builder = tokio_serial::new(serial.device.to_string_lossy(), serial.baud)
        .data_bits(match serial.data_bits {
            7 => tokio_serial::DataBits::Seven,
            _ => tokio_serial::DataBits::Eight,
        })
        .parity(match serial.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(match serial.stop_bits {
            2 => tokio_serial::StopBits::Two,
            _ => tokio_serial::StopBits::One,
        });
    builder.open_native_async()
}

/// Every bus of a site.
pub struct Fleet {
    pub meters: Arc<Vec<Meter>>,
    pub buses: Vec<BusReader>,
}

impl Fleet {
    pub fn new(config: &Config) -> Fleet {
        Fleet {
            meters: Arc::new(config.meters.clone()),
            buses: config
                .buses
                .iter()
                .map(|bus| BusReader::new(bus, config))
                .collect(),
        }
    }

    /// Reads the meters whose indices are in `due`, every bus at once.
    pub async fn poll(&mut self, due: &[usize]) -> Vec<MeterRead> {
        let mut mask = vec![false; self.meters.len()];
        for &i in due {
            if let Some(is_due) = mask.get_mut(i) {
                *is_due = true;
            }
        }
        let meters = self.meters.clone();
        let per_bus = futures_util::future::join_all(
            self.buses.iter_mut().map(|bus| bus.poll(&meters, &mask)),
        )
        .await;
        let mut reads: Vec<MeterRead> = per_bus.into_iter().flatten().collect();
        reads.sort_by_key(|r| r.meter);
        reads
    }

    /// The readings to spool from `reads`: each meter's value, when it was
    /// read, stamped with `boundary(meter index)`.
    pub fn readings(
        &self,
        reads: &[MeterRead],
        boundary: impl Fn(usize) -> i64,
    ) -> Vec<NewReading> {
        crate::source::readings(&self.meters, reads, boundary)
    }

    pub fn stats(&self) -> BusStats {
        self.buses
            .iter()
            .fold(BusStats::default(), |sum, bus| BusStats {
                requests: sum.requests + bus.stats.requests,
                exceptions: sum.exceptions + bus.stats.exceptions,
                timeouts: sum.timeouts + bus.stats.timeouts,
                faults: sum.faults + bus.stats.faults,
            })
    }
}

impl MeterSource for Fleet {
    async fn read(&mut self, _at: i64, due: &[usize]) -> Vec<MeterRead> {
        self.poll(due).await
    }

    async fn stop(&mut self) {
        for bus in &mut self.buses {
            bus.close();
        }
    }
}
