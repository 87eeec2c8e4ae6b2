//! `POST /db/{name}/backups/offsite` (admins): sets the off-site target on the Backups page (`s3://bucket/prefix`,
//! endpoint, region, access key id, secret access key), stored in the home database with the secret sealed; it
//! overrides the configuration's `backup_offsite` settings for every instance and the CLI. `off` turns copies off,
//! `reset` puts the configuration's back. The secret is never shown back nor written to the audit log.
//!
//! `GET|POST /db/{name}/backups/offsite/{file}/restore` (admins): restores a backup whose only copy is off-site (the
//! Backups page lists the bucket's copies beside the local files): the copy, with its sidecar, is downloaded into a
//! temporary folder by the background job, restored as a local file would be, and removed.

use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::backups::{RestoreForm, RestorePage, Row, restore_outcome};
use super::current_db::CurrentDb;
use super::extract::{Form, Path};
use super::layout::Layout;
use super::session::{CurrentUser, FlashKind};
use crate::backup::jobs::Kind;
use crate::backup::{self, Listed, Preview, RestoreOptions, Steps};
use crate::config::backup::Offsite;
use crate::error::{Error, Result};
use crate::home::accounts::Role;
use crate::home::secrets::Keyring;
use crate::home::{audit, offsite};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct OffsiteForm {
    #[serde(default)]
    url: String,
    #[serde(default)]
    endpoint: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    access_key_id: String,
    /// Empty: keep the stored secret.
    #[serde(default)]
    secret_access_key: String,
    /// Present: no off-site copies for this database (set on this page).
    off: Option<String>,
    /// Present: go back to the configuration's settings.
    reset: Option<String>,
}

// The secret never shows, not even in a debug print.
impl std::fmt::Debug for OffsiteForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OffsiteForm").field("url", &self.url).field("endpoint", &self.endpoint).finish_non_exhaustive()
    }
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The settings the form describes, checked; nothing is stored when they are wrong.
fn parse(form: &OffsiteForm) -> Result<Offsite> {
    let not_saved = |e: String| Error::BadRequest(format!("not saved: {e}"));
    let mut offsite = Offsite::parse(&form.url).map_err(not_saved)?;
    offsite.endpoint = optional(&form.endpoint);
    if let Some(e) = &offsite.endpoint
        && url::Url::parse(e).map_or(true, |u| !matches!(u.scheme(), "http" | "https") || u.host().is_none())
    {
        return Err(not_saved(format!("the endpoint {e:?} is not an http:// or https:// URL")));
    }
    offsite.region = optional(&form.region);
    offsite.access_key_id = optional(&form.access_key_id);
    offsite.secret_access_key = optional(&form.secret_access_key);
    Ok(offsite)
}

/// A line for the audit log (never the secret).
fn describe(offsite: Option<&Offsite>) -> String {
    match offsite {
        None => "off".to_string(),
        Some(o) => {
            let mut text = o.to_string();
            if let Some(e) = &o.endpoint {
                text.push_str(&format!(" at {e}"));
            }
            if let Some(r) = &o.region {
                text.push_str(&format!(" ({r})"));
            }
            text
        }
    }
}

/// `POST /backups/offsite`: checks the settings, saves them (the secret sealed), and records the change in the
/// audit log.
pub async fn update(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Form(form): Form<OffsiteForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    let before = offsite::stored(&state.home, db.name()).await?;
    let configured = format!("{} (configuration)", describe(db.spec.backup_offsite.as_ref()));
    let was = match &before {
        Some(s) => describe(s.offsite.as_ref()),
        None => configured.clone(),
    };
    let (now, message) = if form.reset.is_some() {
        offsite::clear(&state.home, db.name()).await?;
        let message = match &db.spec.backup_offsite {
            Some(o) => format!("Off-site copies go to the configuration's {o} again."),
            None => "The page's off-site target is cleared: the configuration sets none, so backups stay local.".into(),
        };
        (configured, message)
    } else {
        let keyring = Keyring::open_or_create(&state.config.secret_key_file())?;
        if form.off.is_some() {
            offsite::save(&state.home, &keyring, db.name(), None, &user.username).await?;
            ("off".to_string(), "Off-site copies are off for this database (set on this page).".to_string())
        } else {
            let wanted = parse(&form)?;
            offsite::save(&state.home, &keyring, db.name(), Some(&wanted), &user.username).await?;
            let secret = if wanted.secret_access_key.is_some() { "; secret access key changed" } else { "" };
            let message =
                format!("Backups are now copied to {wanted}, set on this page; it overrides the configuration.");
            (format!("{}{secret}", describe(Some(&wanted))), message)
        }
    };
    let entry = user.audit("backup.offsite").database(db.name()).target(db.name()).detail(format!("{was} -> {now}"));
    audit::record(&state.home, entry).await?;
    user.flash(FlashKind::Success, message).await?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}

/// The off-site target in force for `db` and its copy called `file`, as listed in the bucket (404 when either is missing).
async fn offsite_copy(state: &AppState, db: &CurrentDb, file: &str) -> Result<(Offsite, Listed, String)> {
    let config = db.config(&state.config);
    let spec = crate::watch::backups::offsite_in_force(&state.home, &config, &db.spec).await?;
    let Some(target) = spec.backup_offsite else {
        return Err(Error::NotFound(format!("an off-site copy {file:?}: {} has no off-site copies", db.name())));
    };
    let prefix = backup::file_prefix(db.url());
    let copies = backup::offsite::Store::new(&target)?.list(&prefix).await?;
    let copy = copies
        .into_iter()
        .find(|c| c.name == file)
        .ok_or_else(|| Error::NotFound(format!("{}/{file} (no such off-site copy)", target)))?;
    let listed = backup::listed_as(&db.backup_dir(&state.config), &prefix, &copy.name, copy.bytes)
        .ok_or_else(|| Error::NotFound(format!("an off-site backup called {file:?}")))?;
    Ok((target, listed, copy.url))
}

/// `GET /backups/offsite/{file}/restore`: the copy, what the restore overwrites, the typed-name form.
pub async fn confirm_restore(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, file)): Path<(String, String)>,
) -> Result<RestorePage> {
    user.require(Role::Admin)?;
    let (_, listed, url) = offsite_copy(&state, &db, &file).await?;
    Ok(RestorePage {
        action: format!("{}/backups/offsite/{}/restore", db.base(), listed.name),
        from_offsite: Some(url),
        layout: Layout::for_db(&user, &state, &db, "backups").await?,
        encrypted: listed.encrypted(),
        database: backup::database_label(db.url()),
        content: listed.format(),
        tables: backup::verify::tables(&db.db).await?,
        running: db.backups.latest().filter(|j| j.is_running()).map(|j| j.status()),
        backup: Row::new(&listed),
    })
}

/// `POST /backups/offsite/{file}/restore`: refuses unless the database name was typed (and, for an encrypted copy,
/// an identity given), then downloads and restores in the background; the page shows the download's and the
/// restore's progress, then the verification report.
pub async fn restore(
    user: CurrentUser,
    db: CurrentDb,
    State(state): State<AppState>,
    Path((_, file)): Path<(String, String)>,
    Form(form): Form<RestoreForm>,
) -> Result<Redirect> {
    user.require(Role::Admin)?;
    db.require_writable("a restore")?;
    let (target, listed, url) = offsite_copy(&state, &db, &file).await?;
    let expected = backup::database_label(db.url());
    let typed = form.database.trim();
    let identity = match form.identity.trim() {
        _ if !listed.encrypted() => Ok(None),
        "" => Err(format!(
            "{} is encrypted (age): paste the identity of one of its recipients; nothing was restored",
            listed.name
        )),
        text => backup::encrypt::Identities::parse(text.as_bytes()).map(Some).map_err(|e| e.to_string()),
    };
    let refused = if typed != expected {
        Some(format!("{typed:?} was typed, not the database name {expected:?}; nothing was restored"))
    } else {
        identity.as_ref().err().cloned()
    };
    let entry = user.audit("backup.restore").database(db.name()).target(&listed.name);
    if let Some(refused) = refused {
        audit::record(&state.home, entry.detail(format!("refused (off-site copy): {refused}"))).await?;
        user.flash(FlashKind::Error, format!("Not restored: {refused}.")).await?;
        return Ok(Redirect::to(&format!("{}/backups/offsite/{}/restore", db.base(), listed.name)));
    }
    let identity = identity.unwrap_or(None);
    let clean = form.clean.is_some();
    let (config, set, home) = (db.config(&state.config), state.migrations.clone(), state.home.clone());
    let (name, prefix) = (listed.name.clone(), backup::file_prefix(db.url()));
    let size = Some(listed.bytes);
    db.backups.start(
        Kind::Restore,
        Some(listed.name.clone()),
        &user.username,
        size,
        move |progress, step| async move {
            let restored = async {
                let folder = tempfile::Builder::new()
                    .prefix("strata-offsite-restore-")
                    .tempdir()
                    .map_err(|e| Error::io("cannot create a temporary folder", e))?;
                step(Steps::Download);
                let store = backup::offsite::Store::new(&target)?;
                let path = store.download(&prefix, &name, folder.path(), progress.clone()).await?;
                step(Steps::Restore);
                let opts = RestoreOptions { file: path, clean, grant_to: None, identity };
                let confirmed = None::<fn(&Preview) -> Result<()>>; // typed on the page already
                let summary = backup::restore(&config, &opts, confirmed, progress).await;
                drop(folder); // the download goes, whatever happened
                summary
            }
            .await;
            restore_outcome(restored, &config, &set, &home, entry, clean, Some(&url)).await
        },
    )?;
    Ok(Redirect::to(&format!("{}/backups", db.base())))
}
