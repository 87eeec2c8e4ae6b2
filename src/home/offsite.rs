//! Off-site settings set on the Backups page, one per database, kept as the sealed secret
//! `backup_offsite:<database>` in `strata_secrets`: the secret access key sealed with the keyring, the rest (the
//! `s3://` location, endpoint, region, access key id, who set it and when) in the row's public label. They
//! override the configuration's `backup_offsite` settings for every instance and for the CLI.

use chrono::{DateTime, Utc};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::secrets::{self, Keyring};
use crate::config::backup::Offsite;
use crate::error::{Error, Result};

/// The name the settings of `database` are stored under.
pub fn secret_name(database: &str) -> String {
    format!("backup_offsite:{database}")
}

/// The public part (the label), as JSON.
#[derive(Debug, Serialize, Deserialize)]
struct Public {
    /// `s3://bucket/prefix`; `None`: off-site copies turned off on the page.
    url: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    /// A secret access key is sealed (else the `AWS_SECRET_ACCESS_KEY` variable is used).
    secret_set: bool,
    updated_by: String,
    updated_at: DateTime<Utc>,
}

/// The settings stored for a database, without the secret.
#[derive(Clone, Debug)]
pub struct Stored {
    /// `None`: off-site copies are off (set on the page). The secret is never filled in here.
    pub offsite: Option<Offsite>,
    pub secret_set: bool,
    pub updated_by: String,
    pub updated_at: DateTime<Utc>,
}

fn decode(database: &str, label: &str) -> Result<Public> {
    serde_json::from_str(label).map_err(|e| {
        Error::Backup(format!("the off-site settings stored for {database} cannot be read ({e}): set them again"))
    })
}

fn offsite_of(database: &str, public: &Public) -> Result<Option<Offsite>> {
    let Some(url) = &public.url else { return Ok(None) };
    let mut offsite = Offsite::parse(url).map_err(|e| Error::Backup(format!("{database}: {e}")))?;
    offsite.endpoint = public.endpoint.clone();
    offsite.region = public.region.clone();
    offsite.access_key_id = public.access_key_id.clone();
    Ok(Some(offsite))
}

/// What the page set for `database`, without the secret (needs no key).
pub async fn stored(db: &impl ConnectionTrait, database: &str) -> Result<Option<Stored>> {
    let Some(label) = secrets::label(db, &secret_name(database)).await? else { return Ok(None) };
    let public = decode(database, &label)?;
    Ok(Some(Stored {
        offsite: offsite_of(database, &public)?,
        secret_set: public.secret_set,
        updated_by: public.updated_by,
        updated_at: public.updated_at,
    }))
}

/// What the page set for `database` with its secret opened: `Some(None)` when copies are off on the page.
pub async fn load(
    db: &impl ConnectionTrait,
    keyring: Option<&Keyring>,
    database: &str,
) -> Result<Option<Option<Offsite>>> {
    let name = secret_name(database);
    let Some(label) = secrets::label(db, &name).await? else { return Ok(None) };
    let public = decode(database, &label)?;
    let mut offsite = offsite_of(database, &public)?;
    if let Some(offsite) = offsite.as_mut().filter(|_| public.secret_set) {
        let keyring = keyring.ok_or_else(|| no_key(database))?;
        let (_, plain) = secrets::get(db, keyring, &name).await?.ok_or_else(|| no_key(database))?;
        offsite.secret_access_key = Some(plain);
    }
    Ok(Some(offsite))
}

fn no_key(database: &str) -> Error {
    Error::Backup(format!(
        "the off-site secret stored for {database} cannot be opened: the key file is missing (restore it, or set the \
         secret again on the Backups page)"
    ))
}

/// Stores the page's settings for `database` (`None`: copies off). A `secret_access_key` of `None` keeps the
/// stored secret, if any.
pub async fn save(
    db: &impl ConnectionTrait,
    keyring: &Keyring,
    database: &str,
    offsite: Option<&Offsite>,
    by: &str,
) -> Result<()> {
    let name = secret_name(database);
    let mut secret = offsite.and_then(|o| o.secret_access_key.clone()).filter(|s| !s.is_empty());
    if secret.is_none() && offsite.is_some() {
        let kept = secrets::label(db, &name).await?.map(|l| decode(database, &l)).transpose()?;
        if kept.is_some_and(|p| p.secret_set) {
            secret = secrets::get(db, keyring, &name).await?.map(|(_, plain)| plain);
        }
    }
    let public = Public {
        url: offsite.map(|o| o.to_string()),
        endpoint: offsite.and_then(|o| o.endpoint.clone()),
        region: offsite.and_then(|o| o.region.clone()),
        access_key_id: offsite.and_then(|o| o.access_key_id.clone()),
        secret_set: secret.is_some(),
        updated_by: by.to_string(),
        updated_at: Utc::now(),
    };
    let label = serde_json::to_string(&public).map_err(|e| Error::Backup(e.to_string()))?;
    secrets::put(db, keyring, &name, &label, secret.as_deref().unwrap_or("")).await
}

/// Forgets the page's settings for `database` (the configuration's are in force again); false when none were set.
pub async fn clear(db: &impl ConnectionTrait, database: &str) -> Result<bool> {
    secrets::delete(db, &secret_name(database)).await
}

/// The off-site settings in force for `database`: the page's when set, else `configured`.
pub async fn in_force(
    db: &impl ConnectionTrait,
    key_file: &std::path::Path,
    database: &str,
    configured: Option<&Offsite>,
) -> Result<Option<Offsite>> {
    if secrets::label(db, &secret_name(database)).await?.is_none() {
        return Ok(configured.cloned());
    }
    let keyring = Keyring::open(key_file)?;
    Ok(load(db, keyring.as_ref(), database).await?.flatten())
}
