//! Metering points of a project: their configuration as the site announced
//! it, and the name the API shows.

use crate::context::Ctx;
use crate::domain::ids::{PointId, ProjectId};
use crate::domain::status::MeterBrief;
use crate::error::ApiError;
use crate::readmodel::{self, ProjectWrite};
use crate::storage::{Row, Sql, SqlValue, StorageError};
use crate::value::Value;
use serde::{Deserialize, Serialize};

/// A point as `/point` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub id: PointId,
    pub name: String,
    pub config: PointConfig,
}

/// What the collector announces about a point; `None` when never announced.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PointConfig {
    pub modbus_id: Option<i64>,
    pub port: Option<String>,
    pub no_phases: Option<String>,
    pub meter_type: Option<String>,
    pub modbus_map: Option<String>,
    pub save_every: Option<i64>,
    pub start_address: Option<i64>,
    /// The unit of the point's value (`kWh`), when the collector said.
    #[serde(default)]
    pub unit: Option<String>,
}

impl PointConfig {
    /// The configuration columns' values, in the order `modbus_id, port,
    /// no_phases, meter_type, modbus_map, save_every, start_address, unit`.
    fn sql_values(&self) -> [SqlValue; 8] {
        let int = |v: Option<i64>| v.map_or(SqlValue::Null, SqlValue::Integer);
        let text = |v: &Option<String>| v.clone().map_or(SqlValue::Null, SqlValue::Text);
        [
            int(self.modbus_id),
            text(&self.port),
            text(&self.no_phases),
            text(&self.meter_type),
            text(&self.modbus_map),
            int(self.save_every),
            int(self.start_address),
            text(&self.unit),
        ]
    }
}

const POINT_COLUMNS: &str =
    "id, name, modbus_id, port, no_phases, meter_type, modbus_map, save_every, start_address, unit";

impl Point {
    fn from_row(row: Row) -> Result<Self, StorageError> {
        Ok(Point {
            id: PointId::from_column(&row, 0)?,
            name: row.text(1)?,
            config: PointConfig {
                modbus_id: row.optional_int(2)?,
                port: row.optional_text(3)?,
                no_phases: row.optional_text(4)?,
                meter_type: row.optional_text(5)?,
                modbus_map: row.optional_text(6)?,
                save_every: row.optional_int(7)?,
                start_address: row.optional_int(8)?,
                unit: row.optional_text(9)?,
            },
        })
    }

    /// What the read model keeps of it for the listings and `/status`.
    pub fn brief(&self) -> MeterBrief {
        MeterBrief {
            name: self.name.clone(),
            unit: self.config.unit.clone(),
            save_every: self.config.save_every,
        }
    }

    /// The page's `/point` shape, key order included.
    pub fn to_value(&self) -> Value {
        let int = |v: Option<i64>| v.map_or(Value::Null, Value::Int);
        let text = |v: &Option<String>| v.as_deref().map_or(Value::Null, Value::str);
        Value::dict([
            ("id", Value::Int(self.id.get())),
            ("MeterId", Value::str(&*self.name)),
            ("ModbusId", int(self.config.modbus_id)),
            ("Port", text(&self.config.port)),
            ("NoPhases", text(&self.config.no_phases)),
            ("MeterType", text(&self.config.meter_type)),
            ("ModbusMap", text(&self.config.modbus_map)),
            ("SaveEvery", int(self.config.save_every)),
            ("startAddress", int(self.config.start_address)),
        ])
    }
}

fn select(db: &dyn Sql, condition: &str, params: &[SqlValue]) -> Result<Vec<Point>, ApiError> {
    let rows = db.execute(
        &format!("SELECT {POINT_COLUMNS} FROM points WHERE {condition} ORDER BY id"),
        params,
    )?;
    Ok(rows.iter().map(Point::from_row).collect::<Result<_, _>>()?)
}

pub fn all(db: &dyn Sql, project_id: ProjectId) -> Result<Vec<Point>, ApiError> {
    select(db, "project_id = ?", &[project_id.into()])
}

pub fn by_name(db: &dyn Sql, project_id: ProjectId, name: &str) -> Result<Option<Point>, ApiError> {
    Ok(select(
        db,
        "project_id = ? AND name = ?",
        &[project_id.into(), name.into()],
    )?
    .pop())
}

/// Renames the project's point `id`; returns it as now listed. 409 when
/// another point of the project has the name, 404 when the point was
/// deleted meanwhile.
pub fn rename(
    ctx: &Ctx,
    project_id: ProjectId,
    id: PointId,
    new_name: &str,
) -> Result<Point, ApiError> {
    let ((), listings) =
        readmodel::write_project(ctx, project_id, None, |write| set_name(write, id, new_name))?;
    listings
        .points()?
        .into_iter()
        .find(|point| point.id == id)
        .ok_or_else(|| ApiError::not_found("the metering point was deleted meanwhile"))
}

/// Names a point; 409 when another point of the project has the name.
pub fn set_name(write: &ProjectWrite, id: PointId, new_name: &str) -> Result<(), ApiError> {
    write.points_changed();
    write
        .db()
        .execute(
            "UPDATE points SET name = ? WHERE project_id = ? AND id = ?",
            &[new_name.into(), write.project_id().into(), id.into()],
        )
        .map_err(|error| {
            if error.is_unique_violation() {
                ApiError::conflict(format!(
                    "another metering point is already named {new_name:?}"
                ))
            } else {
                error.into()
            }
        })?;
    Ok(())
}

/// `(site meter id, point id, shown name)` of every point of the project.
/// A point as the site and the API know it.
pub struct PointIdentity {
    /// What the collector calls it (`MeterId` on the wire).
    pub site_meter_id: String,
    pub id: PointId,
    /// Its shown name, unit and cadence.
    pub brief: MeterBrief,
}

pub fn identities(db: &dyn Sql, project_id: ProjectId) -> Result<Vec<PointIdentity>, ApiError> {
    let rows = db.execute(
        "SELECT site_meter_id, id, name, unit, save_every FROM points WHERE project_id = ?",
        &[project_id.into()],
    )?;
    rows.iter()
        .map(|row| {
            Ok(PointIdentity {
                site_meter_id: row.text(0)?,
                id: PointId::from_column(&row, 1)?,
                brief: MeterBrief {
                    name: row.text(2)?,
                    unit: row.optional_text(3)?,
                    save_every: row.optional_int(4)?,
                },
            })
        })
        .collect()
}

/// `point id → shown name` for every point of the project.
pub fn names(
    db: &dyn Sql,
    project_id: ProjectId,
) -> Result<std::collections::HashMap<PointId, String>, ApiError> {
    let rows = db.execute(
        "SELECT id, name FROM points WHERE project_id = ?",
        &[project_id.into()],
    )?;
    let mut map = std::collections::HashMap::with_capacity(rows.rows.len());
    for row in rows.iter() {
        map.insert(PointId::from_column(&row, 0)?, row.text(1)?);
    }
    Ok(map)
}

/// Creates the point the site calls `site_meter_id`, named after it (or,
/// when a renamed point already took that name, after it with ` (2)`,
/// ` (3)`, …). Returns its id.
pub fn create(
    write: &ProjectWrite,
    site_meter_id: &str,
    config: &PointConfig,
) -> Result<PointId, ApiError> {
    write.points_changed();
    let (db, project_id) = (write.db(), write.project_id());
    for attempt in 1..=1000 {
        let name = if attempt == 1 {
            site_meter_id.to_owned()
        } else {
            format!("{site_meter_id} ({attempt})")
        };
        let inserted = db.execute(
            "INSERT INTO points (project_id, site_meter_id, name, modbus_id, port, no_phases, \
             meter_type, modbus_map, save_every, start_address, unit) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, name) DO NOTHING RETURNING id",
            &[
                &[project_id.into(), site_meter_id.into(), name.into()][..],
                &config.sql_values(),
            ]
            .concat(),
        )?;
        if let Some(row) = inserted.first() {
            return Ok(PointId::from_column(&row, 0)?);
        }
    }
    Err(ApiError::conflict(format!(
        "no free name for metering point {site_meter_id:?}"
    )))
}

/// Refreshes the configuration of an existing point (never its name).
pub fn update_config(
    write: &ProjectWrite,
    id: PointId,
    config: &PointConfig,
) -> Result<(), ApiError> {
    write.points_changed();
    write.db().execute(
        "UPDATE points SET modbus_id = ?, port = ?, no_phases = ?, meter_type = ?, \
         modbus_map = ?, save_every = ?, start_address = ?, unit = ? \
         WHERE id = ? AND project_id = ?",
        &[
            &config.sql_values()[..],
            &[id.into(), write.project_id().into()],
        ]
        .concat(),
    )?;
    Ok(())
}
