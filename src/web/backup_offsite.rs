//! `POST /db/{name}/backups/offsite` (admins): sets the off-site target on the Backups page (`s3://bucket/prefix`,
//! endpoint, region, access key id, secret access key), stored in the home database with the secret sealed; it
//! overrides the configuration's `backup_offsite` settings for every instance and the CLI. `off` turns copies off,
//! `reset` puts the configuration's back. The secret is never shown back nor written to the audit log.

use axum::extract::State;
use axum::response::Redirect;
use serde::Deserialize;

use super::current_db::CurrentDb;
use super::extract::Form;
use super::session::{CurrentUser, FlashKind};
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
