//! Storing a checked ingest batch (`ingest_wire::check`): announced points
//! are created or their configuration refreshed, readings stored, and the
//! project's read models refreshed, all in one transaction.

use crate::context::Ctx;
use crate::domain::ids::{PointId, ProjectId};
use crate::domain::points::{self, PointConfig};
use crate::domain::readings::{self, NewReading};
use crate::domain::status::{CollectorContact, MeterBrief};
use crate::error::{ApiError, ErrorKind};
use crate::readmodel::{self, ProjectWrite};
use crate::storage::Sql;
use ingest_wire::{
    CheckedBatch, MAX_NEW_POINTS_PER_BATCH, MAX_POINTS_PER_PROJECT, PointAnnouncement,
};
use std::collections::HashMap;

/// What a stored batch changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub readings: u64,
    /// Readings that were not stored before (the rest were duplicates).
    pub new: u64,
    pub points_created: u64,
}

impl From<&PointAnnouncement> for PointConfig {
    fn from(point: &PointAnnouncement) -> Self {
        PointConfig {
            modbus_id: point.modbus_id,
            port: point.port.clone(),
            no_phases: point.no_phases.clone(),
            meter_type: point.meter_type.clone(),
            modbus_map: point.modbus_map.clone(),
            save_every: point.save_every,
            start_address: point.start_address,
            unit: point.unit.clone(),
        }
    }
}

/// Stores `batch` for the project in one transaction (whole or not at all).
pub fn store(
    ctx: &Ctx,
    project_id: ProjectId,
    timezone: &str,
    batch: &CheckedBatch<'_>,
) -> Result<Stored, ApiError> {
    let announced: Vec<(&str, PointConfig)> = batch
        .points
        .iter()
        .map(|point| (point.meter_id.as_str(), PointConfig::from(*point)))
        .collect();
    let ((created, new), _) = readmodel::write_project(ctx, project_id, Some(timezone), |write| {
        let mut known = KnownPoints::load(write.db(), project_id)?;
        for (site_meter_id, config) in &announced {
            match known.ids.get(*site_meter_id) {
                Some(&id) => points::update_config(write, id, config)?,
                None => {
                    known.create(write, site_meter_id, config)?;
                }
            }
        }
        let mut rows = Vec::with_capacity(batch.readings.len());
        for reading in &batch.readings {
            let point_id = match known.ids.get(reading.meter_id) {
                Some(&id) => id,
                None => known.create(write, reading.meter_id, &PointConfig::default())?,
            };
            rows.push(NewReading {
                point_id,
                ts: reading.ts,
                value: reading.value,
            });
        }
        let new = readings::insert(write, &rows)?;
        CollectorContact::of_batch(ctx.now(), batch.collector).record(write)?;
        // The listings are rewritten before COMMIT (readmodel.rs); when no
        // point was written, from the points read here.
        write.offer_points(std::mem::take(&mut known.briefs));
        Ok((known.created, new))
    })?;
    Ok(Stored {
        readings: batch.readings.len() as u64,
        new,
        points_created: created,
    })
}

/// The project's points by site meter id, and the points this batch
/// created, within the bounds of a batch and of a project.
struct KnownPoints {
    /// Site meter id → point id.
    ids: HashMap<String, PointId>,
    /// Point id → brief, of the points that existed before the batch.
    briefs: HashMap<PointId, MeterBrief>,
    existing: usize,
    created: u64,
}

impl KnownPoints {
    fn load(db: &dyn Sql, project_id: ProjectId) -> Result<Self, ApiError> {
        let identities = points::identities(db, project_id)?;
        let mut ids = HashMap::with_capacity(identities.len());
        let mut briefs = HashMap::with_capacity(identities.len());
        for point in identities {
            ids.insert(point.site_meter_id, point.id);
            briefs.insert(point.id, point.brief);
        }
        Ok(KnownPoints {
            existing: ids.len(),
            ids,
            briefs,
            created: 0,
        })
    }

    fn create(
        &mut self,
        write: &ProjectWrite,
        site_meter_id: &str,
        config: &PointConfig,
    ) -> Result<PointId, ApiError> {
        if self.created >= MAX_NEW_POINTS_PER_BATCH {
            return Err(ApiError::new(
                ErrorKind::PayloadTooLarge,
                format!(
                    "a batch may create at most {MAX_NEW_POINTS_PER_BATCH} new metering points"
                ),
            ));
        }
        if self.existing + self.created as usize >= MAX_POINTS_PER_PROJECT {
            return Err(ApiError::conflict(format!(
                "the project has reached its limit of {MAX_POINTS_PER_PROJECT} metering points"
            )));
        }
        let id = points::create(write, site_meter_id, config)?;
        self.ids.insert(site_meter_id.to_owned(), id);
        self.created += 1;
        Ok(id)
    }
}
