//! `/db/{name}/backups/policy` (admins): what the retention policy (`backup_keep`, `backup_max_age`) keeps, by which
//! rule, and what it deletes; and applying it, deleting only what the preview showed.

use std::collections::HashSet;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::backups::Row;
use super::current_db::CurrentDb;
use super::extract::Form;
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::backup::{self, retention};
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::audit;
use crate::state::AppState;
use crate::watch::backups::policy;

/// `GET /backups/policy`: every backup with the policy's decision.
pub async fn index(user: CurrentUser, db: CurrentDb, State(state): State<AppState>) -> Result<PolicyPage> {
    user.require(Role::Admin)?;
    let policy = policy(&db.spec);
    let plan = retention::plan(&db.backup_dir(&state.config), &backup::file_prefix(db.url()), &policy)?;
    let doomed: Vec<&str> = plan.iter().filter(|(_, d)| !d.keep()).map(|(b, _)| b.name.as_str()).collect();
    Ok(PolicyPage {
        layout: Layout::for_db(&user, &state, &db, "backups").await?,
        policy: policy.describe(),
        set: policy.is_set(),
        files: doomed.join(","),
        doomed: doomed.len(),
        rows: plan.iter().map(|(b, d)| (Row::new(b), d.kept_by.join(", "))).collect(),
    })
}

#[derive(Debug, Deserialize)]
pub struct ApplyForm {
    /// The names the preview showed as deleted, comma-separated.
    #[serde(default)]
    files: String,
}

/// `POST /backups/policy`: deletes the backups the policy does not keep and the preview showed.
pub async fn apply(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<ApplyForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let policy = policy(&db.spec);
    if !policy.is_set() {
        return Err(Error::BadRequest("this database has no retention policy: nothing was deleted".into()));
    }
    let previewed: HashSet<&str> = form.files.split(',').filter(|n| !n.is_empty()).collect();
    let plan = retention::plan(&db.backup_dir(&state.config), &backup::file_prefix(db.url()), &policy)?;
    let mut deleted = Vec::new();
    let mut failed = None;
    for (b, _) in plan.iter().filter(|(b, d)| !d.keep() && previewed.contains(b.name.as_str())) {
        match backup::remove(&b.path) {
            Ok(()) => deleted.push(b.name.clone()),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    let mut detail = if deleted.is_empty() { "deleted nothing".to_string() } else { deleted.join(", ") };
    if let Some(e) = &failed {
        detail.push_str(&format!("; failed: {e}"));
    }
    let entry = user.audit("backup.prune").database(db.name()).target(policy.describe()).detail(detail);
    audit::record(&state.home, entry).await?;
    if let Some(e) = failed {
        return Err(e);
    }
    let message = match deleted.len() {
        0 => "Nothing to delete: the policy keeps every backup the preview showed.".to_string(),
        1 => "Deleted 1 backup the retention policy does not keep.".to_string(),
        n => format!("Deleted {n} backups the retention policy does not keep."),
    };
    user.flash(FlashKind::Success, message).await?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

#[derive(Template, WebTemplate)]
#[template(path = "backup_policy/index.html")]
pub struct PolicyPage {
    pub layout: Layout,
    pub policy: String,
    /// A policy is configured (without one nothing is deleted).
    pub set: bool,
    /// Each backup, and the rules keeping it (empty: deleted).
    pub rows: Vec<(Row, String)>,
    pub doomed: usize,
    /// The doomed names, for the confirmation form.
    pub files: String,
}
