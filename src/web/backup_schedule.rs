//! `POST /db/{name}/backups/schedule` (admins): sets the backup schedule on the Backups page, stored in the home
//! database where it overrides the configuration's `backup_schedule` for every instance; `reset` removes it.

use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::Form;
use super::session::{CurrentUser, FlashKind};
use crate::config::backup::Schedule;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::{audit, backup_runs};
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ScheduleForm {
    #[serde(default)]
    schedule: String,
    /// Present: go back to the configuration's schedule.
    reset: Option<String>,
}

/// `POST /backups/schedule`: checks the schedule, saves it, and records the change in the audit log.
pub async fn update(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<ScheduleForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let before = backup_runs::schedule_override(&state.home, db.name()).await?.map(|o| o.schedule);
    let configured = db.spec.backup_schedule.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "off".into());
    let (stored, message) = if form.reset.is_some() {
        (None, format!("The schedule is the configuration's again: {configured}."))
    } else {
        let text = form.schedule.trim();
        let text = if text.is_empty() || text == "off" {
            "off".to_string()
        } else {
            Schedule::parse(text).map_err(|e| Error::BadRequest(format!("not saved: {e}")))?.to_string()
        };
        let message = if text == "off" {
            "Scheduled backups are off for this database (set on this page).".to_string()
        } else {
            format!("Backups now run on {text} (UTC), set on this page; it overrides the configuration.")
        };
        (Some(text), message)
    };
    backup_runs::set_override(&state.home, db.name(), stored.as_deref(), &user.username).await?;
    let was = before.unwrap_or_else(|| format!("{configured} (configuration)"));
    let now = stored.clone().unwrap_or_else(|| format!("{configured} (configuration)"));
    let entry = user.audit("backup.schedule").database(db.name()).target(db.name()).detail(format!("{was} -> {now}"));
    audit::record(&state.home, entry).await?;
    user.flash(FlashKind::Success, message).await?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}
