//! The API's answers the page reads, as far as it reads them: `/data`,
//! `/interval`, `/status` and `/usage` (their JSON names).

use serde::Deserialize;

#[derive(Deserialize, Clone)]
pub struct Reading {
    #[serde(rename = "MeterParam")]
    pub meter: String,
    #[serde(rename = "TimeStamping", default)]
    pub time: String,
    pub value: Option<f64>,
}

#[derive(Deserialize, Clone)]
pub struct Status {
    #[serde(rename = "TimeZone")]
    pub zone: String,
    #[serde(rename = "Meters")]
    pub meters: Vec<MeterStatus>,
}

#[derive(Deserialize, Clone)]
pub struct MeterStatus {
    #[serde(rename = "MeterId")]
    pub meter: String,
    #[serde(rename = "Unit")]
    pub unit: Option<String>,
    #[serde(rename = "AgeSeconds")]
    pub age: Option<i64>,
    #[serde(rename = "State")]
    pub state: String,
}

#[derive(Deserialize, Clone)]
pub struct Usage {
    #[serde(rename = "TimeZone")]
    pub zone: String,
    #[serde(rename = "Meters")]
    pub meters: Vec<MeterUsage>,
}

#[derive(Deserialize, Clone)]
pub struct MeterUsage {
    #[serde(rename = "MeterId")]
    pub meter: String,
    #[serde(rename = "Unit")]
    pub unit: Option<String>,
    #[serde(rename = "DemandUnit")]
    pub demand_unit: Option<String>,
    #[serde(rename = "Buckets")]
    pub buckets: Vec<UsageBucket>,
    #[serde(rename = "Total")]
    pub total: UsageBucket,
}

#[derive(Deserialize, Clone, Default)]
pub struct UsageBucket {
    #[serde(rename = "Start")]
    pub start: String,
    #[serde(rename = "Energy")]
    pub energy: Option<f64>,
    #[serde(rename = "PeakDemand")]
    pub peak: Option<f64>,
    #[serde(rename = "PeakStart")]
    pub peak_start: Option<String>,
    #[serde(rename = "Intervals")]
    pub intervals: i64,
}

impl UsageBucket {
    /// Buckets added up: energies summed, the largest peak kept (the
    /// earliest of equals).
    pub fn sum<'a>(buckets: impl Iterator<Item = &'a UsageBucket>) -> UsageBucket {
        let mut sum = UsageBucket::default();
        for bucket in buckets {
            if let Some(energy) = bucket.energy {
                sum.energy = Some(sum.energy.unwrap_or(0.0) + energy);
            }
            if let Some(peak) = bucket.peak
                && sum.peak.is_none_or(|best| peak > best)
            {
                sum.peak = Some(peak);
                sum.peak_start = bucket.peak_start.clone();
            }
            sum.intervals += bucket.intervals;
        }
        sum
    }
}
