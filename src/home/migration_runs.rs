//! `migration_runs`: the migration runs started from the dashboard or the API, kept with their steps and impact.

use chrono::{DateTime, Utc};
use entity::migration_runs::{self, ActiveModel, Column, Entity, Model};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

use crate::error::Result;

/// A run about to start.
pub struct NewRun<'a> {
    pub database: &'a str,
    pub action: &'a str,
    pub target: &'a str,
    pub actor: &'a str,
    pub started_at: DateTime<Utc>,
    /// JSON of the planned steps.
    pub steps: String,
}

/// Records a run as `running`; returns its id.
pub async fn start(db: &impl ConnectionTrait, run: NewRun<'_>) -> Result<i64> {
    let row = ActiveModel {
        database_name: Set(run.database.to_string()),
        action: Set(run.action.to_string()),
        target: Set(run.target.chars().take(64).collect()),
        actor: Set(run.actor.chars().take(255).collect()),
        state: Set("running".into()),
        started_at: Set(run.started_at),
        finished_at: Set(None),
        steps: Set(run.steps),
        error: Set(None),
        impact: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(row.id)
}

/// How a run ended.
pub struct Ended {
    pub state: &'static str,
    pub steps: String,
    pub error: Option<String>,
    pub impact: Option<String>,
}

/// Records how run `id` ended.
pub async fn finish(db: &impl ConnectionTrait, id: i64, ended: Ended) -> Result<()> {
    ActiveModel {
        id: Set(id),
        state: Set(ended.state.to_string()),
        finished_at: Set(Some(Utc::now())),
        steps: Set(ended.steps),
        error: Set(ended.error),
        impact: Set(ended.impact),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// Run `id` of `database`.
pub async fn get(db: &impl ConnectionTrait, database: &str, id: i64) -> Result<Option<Model>> {
    Ok(Entity::find_by_id(id).filter(Column::DatabaseName.eq(database)).one(db).await?)
}

/// The newest `limit` runs of `database`.
pub async fn recent(db: &impl ConnectionTrait, database: &str, limit: u64) -> Result<Vec<migration_runs::Model>> {
    Ok(Entity::find().filter(Column::DatabaseName.eq(database)).order_by_desc(Column::Id).limit(limit).all(db).await?)
}
