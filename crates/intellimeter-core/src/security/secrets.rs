//! Passwords, API keys, session tokens and sealing. Everything secret is
//! stored as a digest or sealed; nothing here is ever logged.

use crate::env::{Env, random_bytes};
use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use sha2::{Digest, Sha256};
use std::fmt::Write;
use subtle::ConstantTimeEq;

/// Hex SHA-256 of `secret`: how API keys, session tokens and ingest tokens
/// are looked up without being stored.
pub fn digest_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

/// Compares two secrets in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    // Hashing first makes the lengths equal, so length leaks nothing either.
    let a = Sha256::digest(a.as_bytes());
    let b = Sha256::digest(b.as_bytes());
    a.ct_eq(&b).into()
}

/// argon2id with the crate's defaults (19 MiB, t=2, p=1: OWASP's minimum).
pub fn hash_password(env: &dyn Env, password: &str) -> Result<String, String> {
    let salt: [u8; 16] = random_bytes(env);
    Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| format!("argon2: {error}"))
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Burns the same time as a real verification, so that an unknown username
/// cannot be told from a wrong password by timing.
pub fn verify_password_of_nobody(env: &dyn Env, password: &str) {
    let _ = hash_password(env, password);
}

/// A new API key: 160 random bits as `xxxxxxxxxx-xxxxxxxxxx-xxxxxxxxxx-xxxxxxxxxx`.
pub fn new_api_key(env: &dyn Env) -> String {
    let digits = hex(&random_bytes::<20>(env));
    let groups: Vec<&str> = (0..4).map(|i| &digits[i * 10..(i + 1) * 10]).collect();
    groups.join("-")
}

/// True when `text` has the API key shape (lower-case hex).
pub fn looks_like_api_key(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 4
        && groups.iter().all(|group| {
            group.len() == 10
                && group
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// A new bearer secret (session token, ingest token): 256 random bits as hex.
pub fn new_token(env: &dyn Env) -> String {
    hex(&random_bytes::<32>(env))
}

/// The key that seals stored API keys, made from a secret that is not in
/// the SQL database.
pub struct SealingKey([u8; 32]);

impl SealingKey {
    pub fn from_secret(secret: &[u8]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"intellimeter api-key sealing v1\0");
        hasher.update(secret);
        SealingKey(hasher.finalize().into())
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(&Key::from(self.0))
    }

    /// `nonce || ciphertext`, bound to `owner` so that a sealed value copied
    /// to another row does not open.
    pub fn seal(&self, env: &dyn Env, owner: &str, plaintext: &str) -> Vec<u8> {
        let nonce: [u8; 12] = random_bytes(env);
        let ciphertext = self
            .cipher()
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: owner.as_bytes(),
                },
            )
            .expect("ChaCha20-Poly1305 encryption of a short message cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, owner: &str, sealed: &[u8]) -> Option<String> {
        if sealed.len() < 12 {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let plaintext = self
            .cipher()
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: owner.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plaintext).ok()
    }
}

/// A fresh session stamp: 128 random bits as hex. Replacing a user's
/// stamp ends every session issued with the old one.
pub fn new_session_stamp(env: &dyn Env) -> String {
    hex(&random_bytes::<16>(env))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    /// A deterministic environment for unit tests.
    pub struct TestEnv {
        pub now: Cell<i64>,
        counter: Cell<u8>,
    }

    impl TestEnv {
        pub fn new() -> Self {
            TestEnv {
                now: Cell::new(1_572_365_237),
                counter: Cell::new(0),
            }
        }
    }

    impl Env for TestEnv {
        fn now(&self) -> i64 {
            self.now.get()
        }
        fn fill_random(&self, buf: &mut [u8]) {
            for byte in buf {
                self.counter.set(self.counter.get().wrapping_add(37));
                *byte = self.counter.get();
            }
        }
        fn variable(&self, _name: &str) -> Option<String> {
            None
        }
        fn log(&self, _line: &str) {}
    }

    #[test]
    fn passwords_hash_and_verify() {
        let env = TestEnv::new();
        let hash = hash_password(&env, "correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsE", &hash));
        assert!(!verify_password("x", "not a phc string"));
    }

    #[test]
    fn api_keys_have_the_page_shape() {
        let env = TestEnv::new();
        let key = new_api_key(&env);
        assert_eq!(key.len(), 43);
        assert!(looks_like_api_key(&key), "{key}");
        assert!(looks_like_api_key(
            "f27a4f7186-d4a6635fe7-992d888955-284e0b037c"
        ));
        assert!(!looks_like_api_key(
            "f27a4f7186-d4a6635fe7-992d888955-284e0b037"
        ));
        assert!(!looks_like_api_key(
            "F27A4F7186-d4a6635fe7-992d888955-284e0b037c"
        ));
        assert!(!looks_like_api_key(
            "f27a4f7186d4a6635fe7-992d888955-284e0b037c-"
        ));
        assert_ne!(new_api_key(&env), key);
    }

    #[test]
    fn sealing_round_trips_and_binds_the_owner() {
        let env = TestEnv::new();
        let key = SealingKey::from_secret(b"secret");
        let sealed = key.seal(&env, "user:1", "abc");
        assert_eq!(key.open("user:1", &sealed).as_deref(), Some("abc"));
        assert_eq!(key.open("user:2", &sealed), None);
        assert_eq!(
            SealingKey::from_secret(b"other").open("user:1", &sealed),
            None
        );
        assert!(!sealed.windows(3).any(|w| w == b"abc"));
    }

    #[test]
    fn digests_and_comparison() {
        assert_eq!(
            digest_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(constant_time_eq("token", "token"));
        assert!(!constant_time_eq("token", "tokem"));
        assert!(!constant_time_eq("token", "token2"));
    }
}
