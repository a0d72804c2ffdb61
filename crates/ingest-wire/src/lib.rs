//! The wire format of `POST /ingest`, shared by the ingest component
//! (`crates/intellimeter-core`) and the site collector (`collector/`):
//! the batch, its point announcements and readings with their JSON names,
//! the limits, the validation that names the failing entry, and RFC 3339
//! times.
//!
//! This crate does no I/O and depends on serde, serde_json and jiff only,
//! so that both a wasm component and a native daemon can carry it.

mod limits;
mod time;
mod validate;

pub use limits::*;
pub use time::{format_utc, parse_time};
pub use validate::{
    CheckedBatch, CheckedReading, Entry, WireError, WireErrorKind, check, check_point_name,
    check_unit, forbidden_in_names, parse,
};

use serde::{Deserialize, Serialize};

/// One `POST /ingest` body: points announced and/or readings delivered.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Batch {
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects"
    )]
    pub points: Vec<PointAnnouncement>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "objects"
    )]
    pub readings: Vec<Reading>,
    /// How the sending collector is doing (optional: older collectors do
    /// not send it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "object"
    )]
    pub collector: Option<CollectorStatus>,
}

/// The sending collector's state, sent with each batch and shown by
/// `GET /status`. Every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CollectorStatus {
    /// The collector's version (`0.4.0`).
    #[serde(rename = "Version", default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Readings in its spool not yet delivered, this batch's included.
    #[serde(rename = "Backlog", default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<u64>,
    /// Whether the site's system clock is synchronised (NTP); a collector
    /// that requires it stamps no reading while it is not.
    #[serde(
        rename = "ClockSynchronised",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub clock_synchronised: Option<bool>,
}

/// A list whose every entry is a JSON object: serde's derive would also
/// read an entry from an array of its fields in order
/// (`["m1", "2019-10-30T04:00:00Z", 1.0]`), which the wire format is not.
fn objects<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let entries: Vec<Object<T>> = Vec::deserialize(deserializer)?;
    Ok(entries.into_iter().map(|Object(entry)| entry).collect())
}

/// An optional JSON object (not an array of its fields either).
fn object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    let entry: Option<Object<T>> = Option::deserialize(deserializer)?;
    Ok(entry.map(|Object(entry)| entry))
}

/// `T` read from a JSON object only.
struct Object<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectOnly<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for ObjectOnly<T> {
            type Value = T;

            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("a JSON object")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }

        deserializer
            .deserialize_map(ObjectOnly(std::marker::PhantomData))
            .map(Object)
    }
}

/// A meter's configuration as the collector announces it (the fields the
/// API shows for a point). Only `MeterId` is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointAnnouncement {
    #[serde(rename = "MeterId")]
    pub meter_id: String,
    #[serde(rename = "ModbusId", default, skip_serializing_if = "Option::is_none")]
    pub modbus_id: Option<i64>,
    #[serde(rename = "Port", default, skip_serializing_if = "Option::is_none")]
    pub port: Option<String>,
    #[serde(rename = "NoPhases", default, skip_serializing_if = "Option::is_none")]
    pub no_phases: Option<String>,
    #[serde(rename = "MeterType", default, skip_serializing_if = "Option::is_none")]
    pub meter_type: Option<String>,
    #[serde(rename = "ModbusMap", default, skip_serializing_if = "Option::is_none")]
    pub modbus_map: Option<String>,
    /// Minutes between readings.
    #[serde(rename = "SaveEvery", default, skip_serializing_if = "Option::is_none")]
    pub save_every: Option<i64>,
    #[serde(
        rename = "startAddress",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_address: Option<i64>,
    /// The unit of the point's value (`kWh`, `Wh`, `m³`), from the
    /// collector's register map; absent when the map does not say.
    #[serde(rename = "Unit", default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

/// One reading of a meter's value (its cumulative energy register).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    #[serde(rename = "MeterId")]
    pub meter_id: String,
    /// RFC 3339 with an offset; the collector writes `YYYY-mm-ddTHH:MM:SSZ`
    /// ([`format_utc`]).
    #[serde(rename = "TimeStamping")]
    pub time_stamping: String,
    pub value: f64,
}

impl Reading {
    /// A reading at `unix_seconds`, written the collector's way.
    pub fn at(meter_id: impl Into<String>, unix_seconds: i64, value: f64) -> Reading {
        Reading {
            meter_id: meter_id.into(),
            time_stamping: format_utc(unix_seconds),
            value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_names_are_the_api_pages() {
        let batch = Batch {
            points: vec![PointAnnouncement {
                meter_id: "meter1".into(),
                modbus_id: Some(1),
                port: Some("USB0".into()),
                no_phases: Some("3".into()),
                meter_type: Some("I-45/MFX/636".into()),
                modbus_map: Some("Priority.ici".into()),
                save_every: Some(5),
                start_address: Some(1100),
                unit: None,
            }],
            readings: vec![Reading::at("meter1", 1_572_455_700, 28540.24)],
            collector: None,
        };
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            json,
            r#"{"points":[{"MeterId":"meter1","ModbusId":1,"Port":"USB0","NoPhases":"3","MeterType":"I-45/MFX/636","ModbusMap":"Priority.ici","SaveEvery":5,"startAddress":1100}],"readings":[{"MeterId":"meter1","TimeStamping":"2019-10-30T17:15:00Z","value":28540.24}]}"#
        );
        assert_eq!(parse(json.as_bytes()).unwrap(), batch);
        // Absent lists and fields are empty, not errors.
        assert_eq!(parse(b"{}").unwrap(), Batch::default());
        let bare = parse(br#"{"points": [{"MeterId": "m"}]}"#).unwrap();
        assert_eq!(
            bare.points[0],
            PointAnnouncement {
                meter_id: "m".into(),
                ..Default::default()
            }
        );
    }

    #[test]
    fn units_and_collector_status_are_optional_additions() {
        let batch = Batch {
            points: vec![PointAnnouncement {
                meter_id: "m".into(),
                unit: Some("kWh".into()),
                ..Default::default()
            }],
            readings: Vec::new(),
            collector: Some(CollectorStatus {
                version: Some("0.4.0".into()),
                backlog: Some(21),
                clock_synchronised: Some(false),
            }),
        };
        let json = serde_json::to_string(&batch).unwrap();
        assert_eq!(
            json,
            r#"{"points":[{"MeterId":"m","Unit":"kWh"}],"collector":{"Version":"0.4.0","Backlog":21,"ClockSynchronised":false}}"#
        );
        assert_eq!(parse(json.as_bytes()).unwrap(), batch);
        // An older collector's batch has neither.
        let old = parse(br#"{"points": [{"MeterId": "m"}], "readings": []}"#).unwrap();
        assert_eq!((old.points[0].unit.as_ref(), old.collector), (None, None));
    }

    #[test]
    fn reading_values_cross_the_wire_exactly() {
        // serde_json's default float parser can be one unit in the last
        // place off: the API stored 414938.386712869 for a reading the
        // collector sent as 414938.38671286893.
        for value in [414938.38671286893, 28540.24, 0.1 + 0.2, 1e15, -1234.5678e-9] {
            let batch = Batch {
                readings: vec![Reading::at("m", 0, value)],
                ..Batch::default()
            };
            let parsed = parse(&serde_json::to_vec(&batch).unwrap()).unwrap();
            assert_eq!(
                parsed.readings[0].value.to_bits(),
                value.to_bits(),
                "{value}"
            );
        }
    }
}
