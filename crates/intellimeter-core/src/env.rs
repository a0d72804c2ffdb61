//! What the core needs from the world besides storage: time, randomness,
//! configuration variables and a log. Passed in, never reached for.

pub trait Env {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
    /// Fills `buf` from a cryptographically secure source.
    fn fill_random(&self, buf: &mut [u8]);
    /// A Spin variable declared for this component; `None` when undeclared
    /// or unreadable.
    fn variable(&self, name: &str) -> Option<String>;
    /// Logs an operator-facing line (never secrets).
    fn log(&self, line: &str);
}

/// `N` random bytes.
pub fn random_bytes<const N: usize>(env: &dyn Env) -> [u8; N] {
    let mut bytes = [0u8; N];
    env.fill_random(&mut bytes);
    bytes
}
