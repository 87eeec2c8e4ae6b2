//! Restore tests: a backup restored into a scratch database `strata_restore_test_<db>_<random>` (on
//! `restore_test_url`'s server; SQLite: a temporary file), checked against what its sidecar recorded when it was
//! taken (exact row counts, foreign keys, indexes, migration heads), then dropped, also when something failed.
//! The outcome and timings go into the sidecar.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection};

use super::encrypt::Identities;
use super::manifest::{self, Manifest, RestoreTestRecord, ToolHeads};
use super::{Progress, RestoreOptions, Step, Steps, engine};
use crate::config::{Backend, Config, DatabaseUrl};
use crate::db::{self, Purpose};
use crate::error::{Error, Result};
use crate::migrate::MigrationSet;

/// Reads every migration tool's heads on a connection (the watch layer's `schema_history`, handed in).
pub type HeadsReader = Arc<dyn Fn(DatabaseConnection) -> BoxFuture<'static, Result<Vec<ToolHeads>>> + Send + Sync>;

/// The scratch databases' name prefix.
pub const PREFIX: &str = "strata_restore_test_";

/// A scratch database name for database `db`: the prefix, the name (cut to fit 63 characters) and 8 random hex digits.
pub fn scratch_name(db: &str) -> String {
    let mut db: String = super::safe_name(db).to_lowercase().replace(['-', '.'], "_");
    db.truncate(63 - PREFIX.len() - 9);
    format!("{PREFIX}{db}_{:08x}", rand::random::<u32>())
}

/// Where the scratch database lives while the test runs, and how it goes away.
enum Scratch {
    /// On a server: the login that created it, and the statement that drops it.
    Server { admin: DatabaseConnection, drop_sql: String },
    /// A SQLite file in a temporary folder, removed with the folder.
    File { _dir: tempfile::TempDir },
}

/// Restores `file` (a backup of the database `config` names) into a scratch database and checks it. Always
/// returns a record (a failure is a `failed` record naming what went wrong), written to the backup's sidecar.
/// `step` hears the restore and the checks begin; `progress` counts the bytes restored.
pub async fn run(
    config: &Config,
    set: &MigrationSet,
    test_url: Option<&DatabaseUrl>,
    file: &Path,
    identity: Option<Identities>,
    heads: Option<HeadsReader>,
    (progress, step): (Progress, Step),
) -> Result<RestoreTestRecord> {
    let started = Instant::now();
    let label = config.current_name().map(str::to_string).unwrap_or_else(|| super::file_prefix(&config.database_url));
    let name = scratch_name(&label);
    let recorded = manifest::read(file)?;
    let mut record = RestoreTestRecord {
        state: "failed".into(),
        at: Utc::now(),
        scratch: name.clone(),
        restore_ms: 0,
        verify_ms: 0,
        scratch_ms: 0,
        total_ms: 0,
        checked: Vec::new(),
        problems: Vec::new(),
    };
    let creating = Instant::now();
    match create(config, test_url, &name).await {
        Ok((scratch_url, scratch)) => {
            record.scratch_ms = creating.elapsed().as_millis() as u64;
            let outcome = restore_and_check(
                config,
                set,
                &scratch_url,
                (file, identity),
                recorded.as_ref(),
                heads,
                (progress, step),
                &mut record,
            )
            .await;
            if let Err(e) = outcome {
                record.problems.push(e.to_string());
            }
            let dropping = Instant::now();
            if let Err(e) = drop_scratch(scratch).await {
                record.problems.push(format!("the scratch database {name} could not be dropped: {e}"));
            }
            record.scratch_ms += dropping.elapsed().as_millis() as u64;
        }
        Err(e) => record.problems.push(format!("cannot create the scratch database {name}: {e}")),
    }
    if record.problems.is_empty() {
        record.state = "passed".into();
    }
    record.total_ms = started.elapsed().as_millis() as u64;
    let saved = record.clone();
    manifest::update(file, move |m| m.restore_test = Some(saved))?;
    Ok(record)
}

/// Creates the scratch database and returns its URL.
async fn create(config: &Config, test_url: Option<&DatabaseUrl>, name: &str) -> Result<(DatabaseUrl, Scratch)> {
    let url = &config.database_url;
    if url.backend() == Backend::Sqlite {
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()
            .map_err(|e| Error::io("cannot create a temporary folder", e))?;
        let path = dir.path().join(format!("{name}.db"));
        std::fs::File::create(&path).map_err(|e| Error::io(format!("cannot create {}", path.display()), e))?;
        return Ok((url.with_database(&path.display().to_string())?, Scratch::File { _dir: dir }));
    }
    let Some(server) = test_url else {
        return Err(Error::BadRequest(format!(
            "no restore_test_url: set it in [database:{label}] to a {} server where Strata may create and drop \
             scratch databases",
            url.backend(),
            label = config.current_name().unwrap_or("NAME")
        )));
    };
    let (create_sql, drop_sql) = engine(url, &config.settings)
        .scratch_sql(name)
        .ok_or_else(|| Error::Internal(format!("{} has no scratch databases", url.backend())))?;
    let admin = db::connect(server, Purpose::Cli).await?;
    if let Err(e) = admin.execute_unprepared(&create_sql).await {
        admin.close().await.ok();
        return Err(e.into());
    }
    Ok((server.with_database(name)?, Scratch::Server { admin, drop_sql }))
}

async fn drop_scratch(scratch: Scratch) -> Result<()> {
    match scratch {
        Scratch::Server { admin, drop_sql } => {
            let dropped = admin.execute_unprepared(&drop_sql).await;
            admin.close().await.ok();
            dropped?;
            Ok(())
        }
        Scratch::File { _dir } => Ok(()),
    }
}

#[allow(clippy::too_many_arguments)]
async fn restore_and_check(
    config: &Config,
    set: &MigrationSet,
    scratch_url: &DatabaseUrl,
    (file, identity): (&Path, Option<Identities>),
    recorded: Option<&Manifest>,
    heads: Option<HeadsReader>,
    (progress, step): (Progress, Step),
    record: &mut RestoreTestRecord,
) -> Result<()> {
    let mut scratch_config = config.clone();
    scratch_config.database_url = scratch_url.clone();
    scratch_config.settings.viewer_url = None;
    step(Steps::Restore);
    let restore_started = Instant::now();
    let opts = RestoreOptions { file: file.to_path_buf(), clean: false, grant_to: None, identity };
    super::restore(&scratch_config, &opts, None::<fn(&super::Preview) -> Result<()>>, progress)
        .await
        .map_err(|e| Error::Backup(format!("the restore failed: {e}")))?;
    record.restore_ms = restore_started.elapsed().as_millis() as u64;
    step(Steps::Check);
    let verify_started = Instant::now();
    let report = super::verify(&scratch_config, set).await?;
    let scratch_heads = match &heads {
        Some(read) => {
            let conn = db::connect(scratch_url, Purpose::Cli).await?;
            let read = read(conn.clone()).await;
            conn.close().await.ok();
            Some(read?)
        }
        None => None,
    };
    record.verify_ms = verify_started.elapsed().as_millis() as u64;
    // Recorded tables name the source's default schema as ""; restored ones may be in the scratch database's own
    // (a MariaDB database's name) or in the source's (a PostgreSQL `schema=` the dump re-creates).
    let defaults = [
        engine(scratch_url, &config.settings).default_schema(),
        engine(&config.database_url, &config.settings).default_schema(),
    ];
    let restored: BTreeMap<(String, String), i64> = report
        .tables
        .iter()
        .map(|t| {
            let schema = if defaults.contains(&t.schema) { String::new() } else { t.schema.clone() };
            ((schema, t.name.clone()), t.rows)
        })
        .collect();
    for (check, verdict) in &report.checks {
        // The backends' own checks say `ok` (integrity_check) or `0 violation(s)` (foreign_key_check) when clean.
        if verdict == "ok" || verdict.starts_with("0 ") {
            record.checked.push(format!("{check}: {verdict}"));
        } else {
            record.problems.push(format!("{check}: {verdict}"));
        }
    }
    let Some(recorded) = recorded else {
        record.checked.push(format!(
            "{} tables restored; no row counts were recorded with this backup (no sidecar), so none were compared",
            restored.len()
        ));
        return Ok(());
    };
    let mut rows = 0i64;
    for t in &recorded.tables {
        let shown = if t.schema.is_empty() { t.name.clone() } else { format!("{}.{}", t.schema, t.name) };
        match restored.get(&(t.schema.clone(), t.name.clone())) {
            None => record.problems.push(format!("table {shown} is missing after the restore")),
            Some(n) if *n < t.min || *n > t.max => {
                let expected = if t.min == t.max { t.min.to_string() } else { format!("{} to {}", t.min, t.max) };
                record.problems.push(format!("table {shown} has {n} rows, {expected} were recorded"));
            }
            Some(n) => rows += n,
        }
    }
    for (schema, name) in restored.keys() {
        if !recorded.tables.iter().any(|t| &t.schema == schema && &t.name == name) {
            record.problems.push(format!("table {name} was not in the database when the backup was taken"));
        }
    }
    record.checked.push(format!("{} tables, {rows} rows as recorded", recorded.tables.len()));
    let mut same = |what: &str, recorded: Option<usize>, restored: usize| match recorded {
        Some(n) if n != restored => record.problems.push(format!("{restored} {what} restored, {n} were recorded")),
        Some(n) => record.checked.push(format!("{n} {what}")),
        None => {}
    };
    same("foreign keys", recorded.foreign_keys, report.foreign_keys);
    same("indexes", recorded.indexes, report.indexes);
    if let (Some(then), Some(now)) = (&recorded.migrations, &scratch_heads) {
        for tool in then {
            let restored = now.iter().find(|t| t.tool == tool.tool).map(|t| t.heads.clone()).unwrap_or_default();
            if restored != tool.heads {
                record.problems.push(format!(
                    "{} is at {} after the restore, {} was recorded",
                    tool.tool,
                    heads_text(&restored),
                    heads_text(&tool.heads)
                ));
            } else {
                record.checked.push(format!("{} at {}", tool.tool, heads_text(&tool.heads)));
            }
        }
    }
    Ok(())
}

fn heads_text(heads: &[String]) -> String {
    if heads.is_empty() { "base".into() } else { heads.join(", ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_names_fit_an_identifier_and_differ() {
        let a = scratch_name("orders-eu");
        assert!(a.starts_with("strata_restore_test_orders_eu_") && a.len() <= 63, "{a}");
        assert_ne!(a, scratch_name("orders-eu"));
        assert!(scratch_name(&"x".repeat(80)).len() <= 63);
        assert!(a.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
    }
}
