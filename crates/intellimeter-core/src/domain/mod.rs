//! The domain: accounts and projects, metering points, readings and their
//! interval rollups, ingest, exports, local days and ranges, field rules.
//! Each module owns its SQL and its transactions; routes call these and
//! speak HTTP only. A write to what a read model holds goes through a
//! write handle of [`crate::readmodel`].

pub mod accounts;
pub mod days;
pub mod enrolment;
pub mod exports;
pub mod figures;
pub mod ids;
pub mod ingest;
pub mod names;
pub mod points;
pub mod readings;
pub mod time;
pub mod validate;
