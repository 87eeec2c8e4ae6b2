//! Off-site copies (`backup_offsite = s3://bucket/prefix`): a finished backup and its sidecar uploaded to an
//! S3-compatible server through `object_store` (streamed in parts, never read whole), listed, pruned by the same
//! retention policy, and downloaded again for a restore.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::retention::{self, Candidate, Policy};
use super::{Progress, manifest};
use crate::config::backup::Offsite;
use crate::error::{Error, Result};

/// Bytes read from the local file per part sent.
const CHUNK: usize = 1 << 20;

/// One off-site copy.
#[derive(Clone, Debug, Serialize)]
pub struct Copy {
    /// The file name (as in the backup folder).
    pub name: String,
    pub bytes: u64,
    pub taken: chrono::DateTime<Utc>,
    /// `s3://bucket/prefix/name`.
    pub url: String,
}

/// A connection to the off-site bucket of one database.
pub struct Store {
    store: Arc<dyn ObjectStore>,
    offsite: Offsite,
}

impl Store {
    /// The bucket `offsite` names; the access key and secret come from the settings, else `AWS_ACCESS_KEY_ID` and
    /// `AWS_SECRET_ACCESS_KEY`.
    pub fn new(offsite: &Offsite) -> Result<Store> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&offsite.bucket)
            .with_region(offsite.region.clone().or_else(|| env("AWS_REGION")).unwrap_or_else(|| "us-east-1".into()));
        if let Some(endpoint) = &offsite.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        let key = offsite.access_key_id.clone().or_else(|| env("AWS_ACCESS_KEY_ID"));
        let secret = offsite.secret_access_key.clone().or_else(|| env("AWS_SECRET_ACCESS_KEY"));
        match (key, secret) {
            (Some(key), Some(secret)) => builder = builder.with_access_key_id(key).with_secret_access_key(secret),
            _ => {
                return Err(Error::BadRequest(format!(
                    "{offsite}: no credentials: set backup_offsite_access_key_id and backup_offsite_secret_access_key \
                     (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
                )));
            }
        }
        let store = builder.build().map_err(|e| failed(offsite, "cannot reach", e))?;
        Ok(Store { store: Arc::new(store), offsite: offsite.clone() })
    }

    fn key(&self, name: &str) -> ObjectPath {
        if self.offsite.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.offsite.prefix))
        }
    }

    /// `s3://bucket/prefix/name`.
    pub fn url_of(&self, name: &str) -> String {
        format!("{}/{name}", self.offsite)
    }

    /// Uploads the finished backup at `file` and its sidecar; returns the copy's URL. A failed upload is aborted
    /// (no part of it stays in the bucket).
    pub async fn upload(&self, file: &Path, progress: Progress) -> Result<String> {
        let name = file_name(file);
        self.put_file(file, &name, progress).await?;
        let sidecar = manifest::path_of(file);
        if sidecar.exists() {
            let side_name = file_name(&sidecar);
            self.put_file(&sidecar, &side_name, Arc::new(|_| {})).await?;
        }
        Ok(self.url_of(&name))
    }

    async fn put_file(&self, file: &Path, name: &str, progress: Progress) -> Result<()> {
        let mut local = tokio::fs::File::open(file)
            .await
            .map_err(|e| Error::io(format!("cannot read {} to upload it", file.display()), e))?;
        let mut writer = BufWriter::with_capacity(self.store.clone(), self.key(name), 8 * CHUNK);
        let mut sent = 0u64;
        let mut buf = vec![0u8; CHUNK];
        // A failure before the last part aborts the multipart upload (object_store's writer cannot be aborted once
        // shut down; a failed completion leaves no object either).
        let sent_all: Result<()> = async {
            loop {
                let n =
                    local.read(&mut buf).await.map_err(|e| Error::io(format!("cannot read {}", file.display()), e))?;
                if n == 0 {
                    break;
                }
                writer
                    .put(bytes::Bytes::copy_from_slice(&buf[..n]))
                    .await
                    .map_err(|e| failed(&self.offsite, "cannot upload to", e))?;
                sent += n as u64;
                progress(sent);
            }
            Ok(())
        }
        .await;
        if let Err(e) = sent_all {
            writer.abort().await.ok();
            return Err(e);
        }
        writer.shutdown().await.map_err(|e| self.io_failed("cannot upload to", e))
    }

    /// The off-site copies of database `db` (named like its backups), newest first.
    pub async fn list(&self, db: &str) -> Result<Vec<Copy>> {
        let prefix = (!self.offsite.prefix.is_empty()).then(|| ObjectPath::from(self.offsite.prefix.as_str()));
        let mut objects = self.store.list(prefix.as_ref());
        let mut copies = Vec::new();
        while let Some(meta) = objects.next().await {
            let meta = meta.map_err(|e| failed(&self.offsite, "cannot list", e))?;
            let Some(name) = meta.location.filename().map(str::to_string) else { continue };
            // Only objects right in the prefix, named like a backup of this database.
            if meta.location != self.key(&name) {
                continue;
            }
            if let Some(taken) = super::backup_time(&name, db) {
                copies.push(Copy { url: self.url_of(&name), name, bytes: meta.size, taken: taken.and_utc() });
            }
        }
        copies.sort_by(|a, b| b.taken.cmp(&a.taken).then_with(|| b.name.cmp(&a.name)));
        Ok(copies)
    }

    /// Deletes the copies of `db` that `policy` does not keep (none without a policy); a copy whose local sidecar
    /// says its restore test passed counts as verified. Returns the deleted copies.
    pub async fn prune(&self, db: &str, policy: &Policy, local_dir: &Path) -> Result<Vec<Copy>> {
        if !policy.is_set() {
            return Ok(Vec::new());
        }
        let copies = self.list(db).await?;
        let candidates: Vec<Candidate> = copies
            .iter()
            .map(|c| Candidate {
                name: c.name.clone(),
                taken: c.taken,
                verified: manifest::read(&local_dir.join(&c.name))
                    .ok()
                    .flatten()
                    .and_then(|m| m.restore_test)
                    .is_some_and(|r| r.passed()),
            })
            .collect();
        let decisions = retention::apply(&candidates, policy, Utc::now());
        let mut deleted = Vec::new();
        for c in copies {
            if decisions.iter().any(|d| d.name == c.name && !d.keep()) {
                self.store
                    .delete(&self.key(&c.name))
                    .await
                    .map_err(|e| failed(&self.offsite, "cannot delete in", e))?;
                let sidecar = format!("{}{}", c.name, manifest::SUFFIX);
                match self.store.delete(&self.key(&sidecar)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(failed(&self.offsite, "cannot delete in", e)),
                }
                deleted.push(c);
            }
        }
        Ok(deleted)
    }

    /// Downloads the copy `name` of `db` (and its sidecar, when there is one) into `dir`; returns the local path.
    pub async fn download(&self, db: &str, name: &str, dir: &Path, progress: Progress) -> Result<PathBuf> {
        if super::backup_time(name, db).is_none() {
            return Err(Error::NotFound(format!("an off-site backup of {db} called {name:?}")));
        }
        let path = self.get_file(name, dir, progress).await?;
        let sidecar = format!("{name}{}", manifest::SUFFIX);
        match self.get_file(&sidecar, dir, Arc::new(|_| {})).await {
            Ok(_) | Err(Error::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
        Ok(path)
    }

    async fn get_file(&self, name: &str, dir: &Path, progress: Progress) -> Result<PathBuf> {
        let got = match self.store.get(&self.key(name)).await {
            Ok(got) => got,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotFound(format!("{} (no such off-site copy)", self.url_of(name))));
            }
            Err(e) => return Err(failed(&self.offsite, "cannot download from", e)),
        };
        let path = dir.join(name);
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        let mut stream = got.into_stream();
        let mut done = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| failed(&self.offsite, "cannot download from", e))?;
            out.write_all(&chunk).await.map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
            done += chunk.len() as u64;
            progress(done);
        }
        out.sync_all().await.map_err(|e| Error::io(format!("cannot write {}", path.display()), e))?;
        Ok(path)
    }

    fn io_failed(&self, what: &str, e: std::io::Error) -> Error {
        Error::Backup(self.masked(format!("{what} {}: {e}", self.offsite)))
    }

    /// `text` without the secret, should a server's message ever quote it.
    fn masked(&self, text: String) -> String {
        match &self.offsite.secret_access_key {
            Some(secret) if !secret.is_empty() => text.replace(secret.as_str(), "***"),
            _ => text,
        }
    }
}

fn failed(offsite: &Offsite, what: &str, e: object_store::Error) -> Error {
    let text = format!("{what} {offsite}: {e}");
    let text = match &offsite.secret_access_key {
        Some(secret) if !secret.is_empty() => text.replace(secret.as_str(), "***"),
        _ => text,
    };
    Error::Backup(text)
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
