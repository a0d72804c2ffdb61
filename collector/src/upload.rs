//! Delivering batches to `POST /ingest`. A batch leaves the spool only
//! after a 2xx. 408, 429, 5xx, timeouts and connection errors are retried
//! (with back-off, by the caller); 401 and 403 too (the token is wrong, not
//! the batch: a person must fix it, and the readings wait); any other 4xx
//! refuses the batch for good, and it goes to quarantine. [`Uploader`] is
//! the [`UploadSink`] that ships.

use crate::config::{Config, Token};
use crate::sink::{Delivery, UploadSink};
use ingest_wire::Batch;
use std::time::Duration;

/// Sends batches to one ingest URL with one token.
#[derive(Clone)]
pub struct Uploader {
    agent: ureq::Agent,
    url: String,
    token: Token,
}

/// The most of an error body kept for the log and the quarantine.
const MAX_ERROR_BYTES: u64 = 2048;

impl Uploader {
    pub fn new(url: String, token: Token, timeout: Duration) -> Uploader {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .user_agent(concat!(
                "intellimeter-collector/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .into();
        Uploader { agent, url, token }
    }

    /// The uploader of a site: its ingest URL, its token (read now) and
    /// its upload timeout; why not, when the token cannot be read.
    pub fn for_site(config: &Config) -> Result<Uploader, String> {
        Ok(Uploader::new(
            config.ingest_url(),
            config.token.read()?,
            Duration::from_millis(config.upload.timeout_ms),
        ))
    }

    /// Sends one JSON body (blocking; call it off the async threads).
    pub fn send(&self, body: &[u8]) -> Delivery {
        let response = self
            .agent
            .post(&self.url)
            .header("authorization", self.token.bearer())
            .content_type("application/json")
            .send(body);
        let mut response = match response {
            Ok(response) => response,
            Err(error) => return Delivery::Retry(error.to_string()),
        };
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            // Read the answer so the connection can be reused.
            let _ = response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BYTES)
                .read_to_string();
            return Delivery::Delivered;
        }
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ERROR_BYTES)
            .read_to_string()
            .unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|json| json["error"].as_str().map(str::to_owned))
            .unwrap_or(text);
        classify(status, message)
    }
}

/// The rule of retries (module docs).
pub fn classify(status: u16, message: String) -> Delivery {
    match status {
        200..=299 => Delivery::Delivered,
        401 | 403 => Delivery::Retry(format!(
            "{status}: the ingest token was refused ({message})"
        )),
        408 | 429 => Delivery::Retry(format!("{status}: {message}")),
        400..=499 => Delivery::Refused(status, message),
        _ => Delivery::Retry(format!("{status}: {message}")),
    }
}

impl UploadSink for Uploader {
    /// Sends `batch` on a blocking thread (ureq blocks).
    async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let json = match serde_json::to_vec(batch) {
            Ok(json) => json,
            Err(error) => return Delivery::Retry(format!("cannot encode the batch: {error}")),
        };
        let uploader = self.clone();
        tokio::task::spawn_blocking(move || uploader.send(&json))
            .await
            .unwrap_or_else(|error| Delivery::Retry(error.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_and_refusals() {
        let m = || "m".to_owned();
        assert_eq!(classify(200, m()), Delivery::Delivered);
        assert_eq!(classify(204, m()), Delivery::Delivered);
        for status in [408, 429, 500, 502, 503, 401, 403] {
            assert!(
                matches!(classify(status, m()), Delivery::Retry(_)),
                "{status}"
            );
        }
        for status in [400, 404, 409, 413, 415] {
            assert_eq!(
                classify(status, m()),
                Delivery::Refused(status, m()),
                "{status}"
            );
        }
    }
}
