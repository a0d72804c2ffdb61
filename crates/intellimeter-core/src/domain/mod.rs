//! The domain: accounts and projects, metering points, readings and their
//! interval rollups, ingest, local days and ranges, field rules. Each
//! module owns its SQL; routes call these and speak HTTP only.

pub mod accounts;
pub mod ingest;
pub mod points;
pub mod readings;
pub mod time;
pub mod validate;
