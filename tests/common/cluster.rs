//! A PostgreSQL cluster of one test's own, for outages: `initdb` into a temp dir, a free port, run as the
//! `postgres` OS user; the test stops and starts it, and it is stopped on drop. Never the machine's shared server.

use std::process::Command;

use super::chrome::free_port;

/// Where Debian keeps PostgreSQL 15's server programs.
pub const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// Runs a command to completion, panicking with its output when it fails.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

/// A running private cluster (trust authentication, user `postgres`).
pub struct PrivateCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    /// Server options beyond the defaults (`-c shared_preload_libraries=pg_stat_statements`).
    extra: String,
}

impl PrivateCluster {
    /// Creates and starts the cluster.
    pub fn start() -> PrivateCluster {
        PrivateCluster::start_with("")
    }

    /// Creates and starts the cluster with more server options (`-c name=value ...`).
    pub fn start_with(extra: &str) -> PrivateCluster {
        let dir = tempfile::tempdir().expect("temp dir");
        run(Command::new("chown").args(["postgres:postgres"]).arg(dir.path()));
        let data = dir.path().join("data");
        run(Command::new("runuser").args(["-u", "postgres", "--"]).arg(format!("{PG_BIN}/initdb")).args([
            "-D",
            data.to_str().unwrap(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "--locale=C",
            "-E",
            "UTF8",
        ]));
        let cluster = PrivateCluster { dir, port: free_port(), extra: extra.to_string() };
        cluster.resume();
        cluster
    }

    /// The cluster's temporary folder (its data, its log, its socket): a place for the test's own files too.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// A URL for `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the stopped cluster again, on the same port.
    pub fn resume(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off {}",
            self.port,
            self.dir.path().display(),
            self.extra
        );
        let data = self.dir.path().join("data");
        let log = self.dir.path().join("postgres.log");
        run(Command::new("runuser").args(["-u", "postgres", "--"]).arg(format!("{PG_BIN}/pg_ctl")).args([
            "-D",
            data.to_str().unwrap(),
            "-l",
            log.to_str().unwrap(),
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ]));
    }

    /// Stops the cluster at once (`-m immediate`: like a crash).
    pub fn stop(&self) {
        let data = self.dir.path().join("data");
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(format!("{PG_BIN}/pg_ctl"))
            .args(["-D", data.to_str().unwrap(), "-m", "immediate", "-w", "stop"])
            .output();
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        self.stop();
    }
}
