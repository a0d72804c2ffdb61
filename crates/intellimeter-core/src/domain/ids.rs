//! The ids of what a project holds, each its own type, so that a point's
//! id can never be passed where a project's is expected (every query is
//! scoped by project: the compiler checks which id goes where). Stored
//! and serialised as the plain integer.

use crate::storage::{Row, SqlValue, StorageError};
use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl $name {
            /// The id as stored and shown.
            pub fn get(self) -> i64 {
                self.0
            }

            /// The id in column `index` of a result row.
            pub(crate) fn from_column(row: &Row, index: usize) -> Result<Self, StorageError> {
                row.int(index).map($name)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<$name> for SqlValue {
            fn from(id: $name) -> Self {
                SqlValue::Integer(id.0)
            }
        }
    };
}

id!(
    /// A project (a site): every user, point and reading belongs to one.
    ProjectId
);
id!(
    /// A user of a project (the page's `uuid`).
    UserId
);
id!(
    /// A metering point of a project.
    PointId
);
