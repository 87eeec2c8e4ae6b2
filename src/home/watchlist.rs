//! The databases admins added on the Databases page, kept in the home database: `watched_databases` rows with
//! the URL's password removed, the password sealed in `strata_secrets` as `watch:<name>`.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, QueryOrder, Set};

use entity::watched_databases::{self, Entity as WatchedDatabases};

use super::secrets::{self, Keyring};
use crate::config::{DatabaseUrl, WatchSpec};
use crate::error::{Error, Result};

/// The `strata_secrets` name of a watched database's password.
pub fn secret_name(name: &str) -> String {
    format!("watch:{name}")
}

/// Every database added on the page, oldest first, passwords put back from their sealed copies.
pub async fn list(db: &impl ConnectionTrait, keyring: Option<&Keyring>) -> Result<Vec<WatchSpec>> {
    let rows = WatchedDatabases::find().order_by_asc(watched_databases::Column::CreatedAt).all(db).await?;
    let mut specs = Vec::with_capacity(rows.len());
    for row in rows {
        let mut url = DatabaseUrl::parse(&row.url)
            .map_err(|e| Error::Internal(format!("the stored URL of {} does not parse: {e}", row.name)))?;
        if let Some(keyring) = keyring
            && let Some((user, password)) = secrets::get(db, keyring, &secret_name(&row.name)).await?
        {
            url = url.with_login(&user, &password).map_err(|e| Error::Internal(e.to_string()))?;
        }
        let mut spec = WatchSpec::new(row.name.clone(), url, "the Databases page".into());
        spec.read_only = row.read_only;
        spec.viewer_url = row.viewer_url.as_deref().and_then(|u| DatabaseUrl::parse(u).ok());
        spec.backup_dir = row.backup_dir.map(Into::into);
        spec.group = row.group_name;
        specs.push(spec);
    }
    Ok(specs)
}

/// Adds or replaces a database; a password in its URL is sealed with `keyring`, never stored as text.
pub async fn save(db: &impl ConnectionTrait, keyring: &Keyring, spec: &WatchSpec, replace: bool) -> Result<()> {
    let now = Utc::now();
    let existing = WatchedDatabases::find_by_id(spec.name.clone()).one(db).await?;
    if existing.is_some() && !replace {
        return Err(Error::Conflict(format!("a database named {} is already watched", spec.name)));
    }
    match (spec.url.user(), spec.url.password()) {
        (Some(user), Some(password)) => secrets::put(db, keyring, &secret_name(&spec.name), &user, &password).await?,
        _ => {
            secrets::delete(db, &secret_name(&spec.name)).await?;
        }
    }
    let model = watched_databases::ActiveModel {
        name: Set(spec.name.clone()),
        url: Set(spec.url.without_password()),
        read_only: Set(spec.read_only),
        viewer_url: Set(spec.viewer_url.as_ref().map(|u| u.connect_url().to_string())),
        backup_dir: Set(spec.backup_dir.as_ref().map(|p| p.display().to_string())),
        group_name: Set(spec.group.clone()),
        created_at: Set(existing.as_ref().map(|e| e.created_at).unwrap_or(now)),
        updated_at: Set(now),
    };
    if existing.is_some() {
        model.update(db).await?;
    } else {
        model.insert(db).await?;
    }
    Ok(())
}

/// Forgets a database added on the page, its sealed password and its off-site settings (with their sealed secret);
/// false when there was no such row.
pub async fn remove(db: &impl ConnectionTrait, name: &str) -> Result<bool> {
    secrets::delete(db, &secret_name(name)).await?;
    super::offsite::clear(db, name).await?;
    Ok(WatchedDatabases::delete_by_id(name.to_string()).exec(db).await?.rows_affected > 0)
}
