//! The domain: accounts and projects, metering points, readings and their
//! interval rollups, ingest, exports, local days and ranges, field rules.
//! Each module owns its SQL and its transactions; routes call these and
//! speak HTTP only. A write to what a read model holds goes through a
//! write handle of [`crate::readmodel`].

pub(crate) mod accounts;
pub mod days;
pub(crate) mod enrolment;
pub(crate) mod exports;
pub(crate) mod figures;
pub mod ids;
pub(crate) mod ingest;
pub(crate) mod names;
pub(crate) mod points;
pub mod readings;
pub(crate) mod status;
pub mod time;
pub mod usage;
pub mod usage_days;
pub mod validate;
