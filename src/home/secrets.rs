//! Secrets Strata keeps for itself (`strata_secrets`), each sealed with XChaCha20-Poly1305 under the key in the key file.
//!
//! The key file (`secret_key_file`) holds 32 random bytes as hex. It is created `0600` on first use, and a key file that
//! others may read, or that cannot be read, stops Strata with a message saying so. Each value gets its own random
//! 24-byte nonce, and its name is the associated data, so a sealed value cannot be moved to another name. The plain
//! text never reaches the table, a log line or a page.
//!
//! ```ignore
//! let keyring = Keyring::open_or_create(&config.secret_key_file())?;
//! secrets::put(&db, &keyring, "viewer_login", "strata_viewer_app", &password).await?;
//! let password = secrets::get(&db, &keyring, "viewer_login").await?;
//! ```

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use entity::strata_secrets;
use rand::RngCore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ConnectionTrait, EntityTrait, Set};

use crate::config::ConfigError;
use crate::error::Result;

const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The key that seals and opens secrets, read from (or created as) a key file.
pub struct Keyring {
    key: [u8; KEY_LEN],
    path: PathBuf,
}

// The key never shows, not even in a debug print.
impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring").field("path", &self.path).finish_non_exhaustive()
    }
}

fn key_error(path: &Path, reason: impl Into<String>) -> ConfigError {
    ConfigError::KeyFile { path: path.to_path_buf(), reason: reason.into() }
}

impl Keyring {
    /// Reads the key file; `None` when it does not exist. A file that others may read or write, that cannot be
    /// read, or that does not hold a key is an error.
    pub fn open(path: &Path) -> Result<Option<Keyring>, ConfigError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(key_error(path, format!("cannot be read: {e}"))),
        };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(key_error(
                path,
                format!("has permissions {mode:04o}, looser than 0600: run `chmod 600 {}`", path.display()),
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| key_error(path, format!("cannot be read: {e}")))?;
        let bytes = crate::hex::decode(text.trim())
            .filter(|b| b.len() == KEY_LEN)
            .ok_or_else(|| key_error(path, format!("does not hold a key ({} hex digits expected)", KEY_LEN * 2)))?;
        let mut key = [0u8; KEY_LEN];
        key.copy_from_slice(&bytes);
        Ok(Some(Keyring { key, path: path.to_path_buf() }))
    }

    /// Reads the key file, or creates it (`0600`, its folder too) with a new random key.
    pub fn open_or_create(path: &Path) -> Result<Keyring, ConfigError> {
        if let Some(k) = Keyring::open(path)? {
            return Ok(k);
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| key_error(path, format!("cannot create its folder: {e}")))?;
        }
        let mut key = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut key);
        let created = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path);
        match created {
            Ok(mut f) => {
                f.write_all(format!("{}\n", crate::hex::encode(&key)).as_bytes())
                    .and_then(|_| f.sync_all())
                    .map_err(|e| key_error(path, format!("cannot be written: {e}")))?;
                tracing::info!(path = %path.display(), "created the key file for Strata's secrets");
                Ok(Keyring { key, path: path.to_path_buf() })
            }
            // Another process created it meanwhile: use that one.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                Keyring::open(path)?.ok_or_else(|| key_error(path, "vanished while it was being created"))
            }
            Err(e) => Err(key_error(path, format!("cannot be created: {e}"))),
        }
    }

    /// Where the key lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&Key::from(self.key))
    }

    /// Seals `plain` for `name` under a fresh random nonce: `(nonce, ciphertext)`.
    pub fn seal(&self, name: &str, plain: &str) -> (Vec<u8>, Vec<u8>) {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher()
            .encrypt(&XNonce::from(nonce), Payload { msg: plain.as_bytes(), aad: name.as_bytes() })
            // Encryption fails only for messages of about 256 GiB.
            .expect("a secret of sane size seals");
        (nonce.to_vec(), sealed)
    }

    /// Opens what [`Keyring::seal`] sealed for `name`; a wrong key, nonce, name or a changed byte is an error.
    pub fn unseal(&self, name: &str, nonce: &[u8], sealed: &[u8]) -> Result<String, ConfigError> {
        let wrong = || {
            key_error(
                &self.path,
                format!(
                    "does not open the stored secret {name:?}: it is not the key file the secret was stored with \
                     (restore that file, or create the secret again)"
                ),
            )
        };
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| wrong())?;
        let plain = self
            .cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: sealed, aad: name.as_bytes() })
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

/// Stores (or replaces) the secret `name`, with `label` as its public part.
pub async fn put(db: &impl ConnectionTrait, keyring: &Keyring, name: &str, label: &str, plain: &str) -> Result<()> {
    let (nonce, sealed) = keyring.seal(name, plain);
    let row = strata_secrets::ActiveModel {
        name: Set(name.to_string()),
        label: Set(label.to_string()),
        nonce: Set(crate::hex::encode(&nonce)),
        ciphertext: Set(crate::hex::encode(&sealed)),
        updated_at: Set(chrono::Utc::now()),
    };
    strata_secrets::Entity::insert(row)
        .on_conflict(
            OnConflict::column(strata_secrets::Column::Name)
                .update_columns([
                    strata_secrets::Column::Label,
                    strata_secrets::Column::Nonce,
                    strata_secrets::Column::Ciphertext,
                    strata_secrets::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec(db)
        .await?;
    Ok(())
}

/// The public label of the secret `name`, when one is stored (needs no key).
pub async fn label(db: &impl ConnectionTrait, name: &str) -> Result<Option<String>> {
    Ok(strata_secrets::Entity::find_by_id(name.to_string()).one(db).await?.map(|r| r.label))
}

/// The secret `name` as `(label, plain text)`, when one is stored.
pub async fn get(db: &impl ConnectionTrait, keyring: &Keyring, name: &str) -> Result<Option<(String, String)>> {
    let Some(row) = strata_secrets::Entity::find_by_id(name.to_string()).one(db).await? else {
        return Ok(None);
    };
    let nonce = crate::hex::decode(&row.nonce).unwrap_or_default();
    let sealed = crate::hex::decode(&row.ciphertext).unwrap_or_default();
    let plain = keyring.unseal(name, &nonce, &sealed)?;
    Ok(Some((row.label, plain)))
}

/// Forgets the secret `name`; false when none was stored.
pub async fn delete(db: &impl ConnectionTrait, name: &str) -> Result<bool> {
    Ok(strata_secrets::Entity::delete_by_id(name.to_string()).exec(db).await?.rows_affected > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_key_file_is_0600_and_reopens_to_the_same_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/strata.key");
        let k = Keyring::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let again = Keyring::open(&path).unwrap().expect("exists now");
        let (nonce, sealed) = k.seal("viewer_login", "s3cret");
        assert_eq!(again.unseal("viewer_login", &nonce, &sealed).unwrap(), "s3cret");
    }

    #[test]
    fn a_key_file_others_may_read_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("strata.key");
        Keyring::open_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Keyring::open(&path).unwrap_err().to_string();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::write(&path, "not a key\n").unwrap();
        let err = Keyring::open(&path).unwrap_err().to_string();
        assert!(err.contains("does not hold a key"), "{err}");
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts_and_neither_holds_the_plain_text() {
        let dir = tempfile::tempdir().unwrap();
        let k = Keyring::open_or_create(&dir.path().join("k")).unwrap();
        let (n1, c1) = k.seal("a", "password123");
        let (n2, c2) = k.seal("a", "password123");
        assert_ne!(n1, n2, "a fresh nonce per value");
        assert_ne!(c1, c2);
        assert!(!crate::hex::encode(&c1).contains(&crate::hex::encode(b"password123")));
        assert!(k.unseal("b", &n1, &c1).is_err(), "bound to its name");
        let mut tampered = c1.clone();
        tampered[0] ^= 1;
        assert!(k.unseal("a", &n1, &tampered).is_err(), "a changed byte is refused");
        let other = Keyring::open_or_create(&dir.path().join("other")).unwrap();
        let err = other.unseal("a", &n1, &c1).unwrap_err().to_string();
        assert!(err.contains("not the key file"), "{err}");
    }
}
