//! The wall clock readings are stamped with, and whether to trust it.
//!
//! Invariant: nothing is stamped, and nothing is judged "in the future",
//! with a clock [`assess`] does not trust. A Raspberry Pi without a
//! real-time clock boots at 1970 (or at the time it last shut down) and
//! keeps that time until NTP answers; a reading stamped then would land
//! decades or days away from where it belongs, and a backlog checked
//! against such a "now" would look like it came from the future.
//!
//! The clock is trusted when the kernel says NTP synchronised it; when
//! nobody can say (see below), or site.toml says not to wait for NTP
//! (`require_clock_sync = false`), it is trusted unless it is more than
//! [`BEHIND_TOLERANCE_SECONDS`] behind the newest reading the spool ever
//! took: a clock that went back is not believed. A synchronised clock is
//! believed even behind the spool (NTP is the authority; the spool's
//! newest stamp may come from a clock that ran ahead before NTP).
//!
//! The kernel's word is `adjtimex(2)` asked to change nothing (`modes =
//! 0`), which needs no privilege: `STA_UNSYNC` in the status, or the return
//! value `TIME_ERROR`, means not synchronised. Where the call fails (a
//! container or sandbox whose seccomp filter forbids it, a systemd unit
//! with `ProtectClock=yes`) or does not exist (a system other than Linux),
//! the state is [`SyncState::Unknown`]: the clock is trusted, the spool
//! check still applies, and the collector logs once that it cannot tell.

use std::fmt;
use std::sync::Arc;

/// How far the clock may be behind the newest reading in the spool and
/// still be trusted: NTP's small steps back are not a reboot at 1970.
pub const BEHIND_TOLERANCE_SECONDS: i64 = 60;

/// A wall clock and what the system says of its synchronisation. The
/// collector reads [`SystemClock`]; tests set a clock of their own.
pub trait Clock: Send + Sync {
    /// Milliseconds since the Unix epoch (negative before it).
    fn now_millis(&self) -> i64;

    /// Whether the system says the clock is synchronised.
    fn sync_state(&self) -> SyncState;

    /// Seconds since the Unix epoch.
    fn now(&self) -> i64 {
        self.now_millis().div_euclid(1000)
    }
}

/// What the system says of the clock's synchronisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncState {
    Synchronised,
    Unsynchronised,
    /// Nobody can say; why.
    Unknown(String),
}

/// The system's clock; its synchronisation from the kernel (module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        }
    }

    fn sync_state(&self) -> SyncState {
        kernel_sync_state()
    }
}

#[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
fn kernel_sync_state() -> SyncState {
    // SAFETY: `timex` is plain integers (and padding), for which all zeros
    // is a valid value; `modes = 0` asks the kernel to change nothing.
    let mut timex: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusive pointer to a `timex` the call fills in.
    let state = unsafe { libc::adjtimex(&mut timex) };
    if state == -1 {
        return SyncState::Unknown(format!("adjtimex: {}", std::io::Error::last_os_error()));
    }
    if state == libc::TIME_ERROR || timex.status & libc::STA_UNSYNC != 0 {
        SyncState::Unsynchronised
    } else {
        SyncState::Synchronised
    }
}

#[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
fn kernel_sync_state() -> SyncState {
    SyncState::Unknown("this system has no adjtimex".to_owned())
}

/// What the collector makes of its clock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockState {
    /// The kernel says NTP synchronised it: trusted.
    Synchronised,
    /// Nobody can say whether it is synchronised (why); trusted, as it is
    /// not behind the spool.
    Unknown(String),
    /// The kernel says it is not synchronised, and site.toml says not to
    /// wait for NTP; trusted, as it is not behind the spool.
    SyncNotRequired,
    /// The kernel says it is not synchronised: not trusted.
    Unsynchronised,
    /// Behind the newest reading the spool took (at `newest`) by so many
    /// seconds: not trusted.
    BehindSpool { seconds: i64, newest: i64 },
}

impl ClockState {
    /// Whether readings may be stamped with the clock.
    pub fn is_trusted(&self) -> bool {
        matches!(
            self,
            ClockState::Synchronised | ClockState::Unknown(_) | ClockState::SyncNotRequired
        )
    }
}

impl fmt::Display for ClockState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockState::Synchronised => f.write_str("synchronised"),
            ClockState::Unknown(why) => write!(
                f,
                "trusted, though it cannot be told whether it is synchronised ({why})"
            ),
            ClockState::SyncNotRequired => f.write_str(
                "not synchronised, trusted as site.toml says (require_clock_sync = false)",
            ),
            ClockState::Unsynchronised => f.write_str(
                "NOT SYNCHRONISED (the kernel says NTP has not set it): no readings until it is",
            ),
            ClockState::BehindSpool { seconds, newest } => write!(
                f,
                "BEHIND THE SPOOL by {seconds} s (its newest reading is stamped {}): no readings until it catches up",
                ingest_wire::format_utc(*newest)
            ),
        }
    }
}

/// The collector's verdict on a clock whose system says `sync`, reading
/// `now`, next to the newest reading the spool took (module docs).
pub fn assess(
    sync: SyncState,
    now: i64,
    newest_stamp: Option<i64>,
    require_sync: bool,
) -> ClockState {
    let unvouched = match sync {
        SyncState::Synchronised => return ClockState::Synchronised,
        SyncState::Unsynchronised if require_sync => return ClockState::Unsynchronised,
        SyncState::Unsynchronised => ClockState::SyncNotRequired,
        SyncState::Unknown(why) => ClockState::Unknown(why),
    };
    match newest_stamp {
        Some(newest) if newest - now > BEHIND_TOLERANCE_SECONDS => ClockState::BehindSpool {
            seconds: newest - now,
            newest,
        },
        _ => unvouched,
    }
}

/// A site's clock and its rule of trust (site.toml's
/// `require_clock_sync`), shared by the cycles and the outbox.
#[derive(Clone)]
pub struct Timekeeper {
    clock: Arc<dyn Clock>,
    require_sync: bool,
}

impl Timekeeper {
    pub fn new(clock: Arc<dyn Clock>, require_sync: bool) -> Timekeeper {
        Timekeeper {
            clock,
            require_sync,
        }
    }

    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Now, and the verdict on the clock next to the spool's newest stamp.
    pub fn state(&self, newest_stamp: Option<i64>) -> (i64, ClockState) {
        let now = self.clock.now();
        let state = assess(
            self.clock.sync_state(),
            now,
            newest_stamp,
            self.require_sync,
        );
        (now, state)
    }

    /// Now, when the clock is trusted; otherwise why not.
    pub fn trusted_now(&self, newest_stamp: Option<i64>) -> Result<i64, ClockState> {
        match self.state(newest_stamp) {
            (now, state) if state.is_trusted() => Ok(now),
            (_, state) => Err(state),
        }
    }
}

/// Logs the clock's state when it changes, not every cycle.
#[derive(Debug, Default)]
pub struct ClockLog {
    last: Option<std::mem::Discriminant<ClockState>>,
}

impl ClockLog {
    /// Logs `state` if it is not the kind last seen: a warning when
    /// readings stop for it or when nobody can tell whether it is
    /// synchronised, otherwise a note.
    pub fn observe(&mut self, state: &ClockState) {
        let kind = std::mem::discriminant(state);
        if self.last == Some(kind) {
            return;
        }
        self.last = Some(kind);
        match state {
            ClockState::Unsynchronised | ClockState::BehindSpool { .. } => {
                tracing::warn!("waiting for the clock, no meter is read: {state}")
            }
            ClockState::Unknown(_) => tracing::warn!("the clock: {state}"),
            ClockState::Synchronised | ClockState::SyncNotRequired => {
                tracing::info!("the clock is {state}: meters are read")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2019-10-30T13:12:34Z
    const T: i64 = 1_572_441_154;

    #[test]
    fn the_kernel_vouches_otherwise_the_spool_decides() {
        use SyncState::*;
        let unknown = || Unknown("adjtimex: Operation not permitted".to_owned());
        // Synchronised: believed, even behind the spool.
        assert_eq!(
            assess(Synchronised, T, Some(T + 86_400), true),
            ClockState::Synchronised
        );
        // Not synchronised: waits, unless site.toml says not to.
        assert_eq!(
            assess(Unsynchronised, 60, None, true),
            ClockState::Unsynchronised
        );
        assert_eq!(
            assess(Unsynchronised, T, Some(T - 300), false),
            ClockState::SyncNotRequired
        );
        assert_eq!(
            assess(unknown(), T, Some(T + BEHIND_TOLERANCE_SECONDS), true),
            ClockState::Unknown("adjtimex: Operation not permitted".to_owned())
        );
        // Behind the spool beyond the tolerance: waits.
        let booted_at_1970 = assess(unknown(), 60, Some(T), true);
        assert_eq!(
            booted_at_1970,
            ClockState::BehindSpool {
                seconds: T - 60,
                newest: T
            }
        );
        assert!(!booted_at_1970.is_trusted());
        assert!(!assess(Unsynchronised, T - 61, Some(T), false).is_trusted());
        assert!(assess(Unsynchronised, T - 60, Some(T), false).is_trusted());
    }

    #[test]
    fn each_state_says_what_it_means() {
        let cases = [
            (ClockState::Synchronised, "synchronised"),
            (
                ClockState::Unsynchronised,
                "NOT SYNCHRONISED (the kernel says NTP has not set it): no readings until it is",
            ),
            (
                ClockState::BehindSpool {
                    seconds: 600,
                    newest: T,
                },
                "BEHIND THE SPOOL by 600 s (its newest reading is stamped 2019-10-30T13:12:34Z): no readings until it catches up",
            ),
            (
                ClockState::SyncNotRequired,
                "not synchronised, trusted as site.toml says (require_clock_sync = false)",
            ),
            (
                ClockState::Unknown("adjtimex: Operation not permitted".to_owned()),
                "trusted, though it cannot be told whether it is synchronised (adjtimex: Operation not permitted)",
            ),
        ];
        for (state, says) in cases {
            assert_eq!(state.to_string(), says);
        }
    }

    #[test]
    fn the_system_clock_reads_the_kernel() {
        let clock = SystemClock;
        let now = clock.now();
        assert!(now > T, "{now}");
        let state = clock.sync_state();
        #[cfg(all(target_os = "linux", any(target_env = "gnu", target_env = "musl")))]
        assert!(
            matches!(state, SyncState::Synchronised | SyncState::Unsynchronised),
            "adjtimex answers unprivileged: {state:?}"
        );
        #[cfg(not(all(target_os = "linux", any(target_env = "gnu", target_env = "musl"))))]
        assert!(matches!(state, SyncState::Unknown(_)), "{state:?}");
    }
}
