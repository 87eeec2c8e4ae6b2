//! The database's client tools as child processes: finding them, their versions, pipes in and out, secrets in 0600 files.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use crate::error::{Error, Result};

/// A client tool to look for: its setting, the names it goes by, and how to install it.
pub struct Wanted {
    /// The `[strata]` key that names it.
    pub setting: &'static str,
    /// File names to look for on `PATH`, in order.
    pub names: &'static [&'static str],
    /// What to install when it is missing.
    pub install: &'static str,
}

/// The configured path, else the first of `wanted.names` on `PATH`; the error says what to do.
pub fn find(configured: Option<&Path>, wanted: &Wanted) -> Result<PathBuf> {
    let env = crate::config::env_var_name(wanted.setting);
    if let Some(path) = configured {
        return if is_executable(path) {
            Ok(path.to_path_buf())
        } else {
            Err(Error::ToolMissing(format!(
                "{} (set by {} / {env}) does not exist or is not executable: fix the setting, or remove it to use {} \
                 from PATH ({}); nothing was done",
                path.display(),
                wanted.setting,
                wanted.names[0],
                wanted.install
            )))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| wanted.names.iter().map(move |name| dir.join(name)))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| {
            Error::ToolMissing(format!(
                "{} was not found on PATH: {}, or name it with the {} setting ({env}); nothing was done",
                wanted.names.join(" or "),
                wanted.install,
                wanted.setting
            ))
        })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first line `tool --version` prints.
pub fn version(tool: &Path) -> Result<String> {
    let out = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::ToolMissing(format!("cannot run {}: {e}", tool.display())))?;
    Ok(String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or("").trim().to_string())
}

/// The major version in a `--version` line: `pg_dump (PostgreSQL) 15.4 (Debian ...)` gives 15.
pub fn major_version(line: &str) -> Option<u32> {
    let after = line.split_once(')').map_or(line, |(_, rest)| rest);
    after.split(|c: char| !c.is_ascii_digit()).find(|s| !s.is_empty())?.parse().ok()
}

/// A file only its owner may read (mode 0600), removed when dropped: passwords go here, never on a command line.
pub fn secret_file(contents: &str) -> Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let mut file = tempfile::Builder::new()
        .prefix("strata-secret-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile()
        .map_err(|e| Error::io("cannot create a temporary credentials file", e))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.flush())
        .map_err(|e| Error::io("cannot write a temporary credentials file", e))?;
    Ok(file)
}

/// A running tool whose standard error is collected in the background (the last 64 KiB of it).
pub struct Running {
    child: Child,
    stderr: Option<JoinHandle<String>>,
    secret: Option<String>,
}

const STDERR_KEEP: usize = 64 * 1024;

impl Running {
    /// Starts `cmd` with stderr captured; `secret` is masked wherever the tool's messages are shown.
    pub fn spawn(cmd: &mut Command, secret: Option<&str>) -> Result<Running> {
        let program = Path::new(cmd.get_program()).display().to_string();
        let mut child = cmd
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| Error::ToolMissing(format!("cannot start {program}: {e}")))?;
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                kept.extend_from_slice(&buf[..n]);
                if kept.len() > 2 * STDERR_KEEP {
                    kept.drain(..kept.len() - STDERR_KEEP);
                }
            }
            String::from_utf8_lossy(&kept).into_owned()
        });
        Ok(Running { child, stderr: Some(stderr), secret: secret.filter(|s| !s.is_empty()).map(String::from) })
    }

    /// The tool's standard output.
    pub fn stdout(&mut self) -> ChildStdout {
        self.child.stdout.take().expect("stdout is piped and taken once")
    }

    /// The tool's standard input.
    pub fn stdin(&mut self) -> std::process::ChildStdin {
        self.child.stdin.take().expect("stdin is piped and taken once")
    }

    /// Waits for the tool; its exit status and what it wrote to stderr (secret masked).
    pub fn wait(mut self) -> (io::Result<ExitStatus>, String) {
        let status = self.child.wait();
        let text = self.stderr.take().and_then(|h| h.join().ok()).unwrap_or_default();
        (status, self.mask(text))
    }

    /// Ends the tool at once (SIGKILL): a restore that is killed never sees the end of its input, so never commits.
    pub fn kill(mut self) -> String {
        self.child.kill().ok();
        self.wait().1
    }

    /// Sends SIGKILL without waiting (the caller closes the tool's input afterwards, then waits).
    fn kill_now(&mut self) {
        self.child.kill().ok();
    }

    fn mask(&self, text: String) -> String {
        let text = crate::config::mask_url_str(&text);
        match &self.secret {
            Some(secret) => text.replace(secret.as_str(), "***"),
            None => text,
        }
    }
}

/// A tool's stdout as a reader that, at its end, fails unless the tool exited 0: a consumer of a
/// pipeline then stops as it would on any read error.
pub struct ToolOutput {
    running: Option<Running>,
    stdout: ChildStdout,
    name: String,
}

impl ToolOutput {
    pub fn new(mut running: Running, name: &str) -> ToolOutput {
        let stdout = running.stdout();
        ToolOutput { running: Some(running), stdout, name: name.to_string() }
    }
}

impl Read for ToolOutput {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stdout.read(buf)?;
        if n == 0
            && let Some(running) = self.running.take()
        {
            let (status, stderr) = running.wait();
            if !status.as_ref().is_ok_and(|s| s.success()) {
                return Err(io::Error::other(format!("{} failed: {}", self.name, stderr.trim())));
            }
        }
        Ok(n)
    }
}

impl Drop for ToolOutput {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            running.kill();
        }
    }
}

/// How feeding a tool went wrong.
pub enum FeedError {
    /// The input could not be read to its end (damaged file, a failing producer); the tool was killed.
    Source(io::Error),
    /// The tool failed; what it said.
    Tool(String),
}

/// Streams `source` into the tool's stdin and waits for it. A failing `source` kills the tool before
/// its input ends, so a tool that commits at the end of its input (psql --single-transaction) never does.
pub fn feed(mut running: Running, source: &mut dyn Read) -> std::result::Result<(), FeedError> {
    let mut stdin = running.stdin();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // Killed first, input closed second: the other order would let the tool see a normal end.
                running.kill_now();
                drop(stdin);
                let _ = running.wait();
                return Err(FeedError::Source(e));
            }
        };
        if stdin.write_all(&buf[..n]).is_err() {
            // The tool stopped reading: it failed (ON_ERROR_STOP); what it said is the error.
            break;
        }
    }
    drop(stdin);
    let (status, stderr) = running.wait();
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(FeedError::Tool(if stderr.trim().is_empty() { format!("exited with {s}") } else { stderr })),
        Err(e) => Err(FeedError::Tool(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn major_versions_come_from_the_version_line() {
        assert_eq!(major_version("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"), Some(15));
        assert_eq!(major_version("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(major_version("psql (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(major_version("nothing here"), None);
    }

    #[test]
    fn a_configured_tool_that_is_missing_names_the_setting() {
        let wanted = Wanted { setting: "pg_dump_path", names: &["pg_dump"], install: "install postgresql-client" };
        let err = find(Some(Path::new("/nonexistent/pg_dump")), &wanted).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/pg_dump") && err.contains("STRATA_PG_DUMP_PATH"), "{err}");
    }

    #[test]
    fn secrets_are_written_for_the_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let file = secret_file("hunter2").unwrap();
        assert_eq!(std::fs::metadata(file.path()).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_to_string(file.path()).unwrap(), "hunter2");
    }

    #[test]
    fn a_failing_source_kills_the_tool_before_its_input_ends() {
        struct Broken;
        impl Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("corrupt deflate stream"))
            }
        }
        // Like psql --single-transaction, this "commits" (touches the file) only when its input ends normally.
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("committed");
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(format!("cat >/dev/null && touch {}", marker.display()));
        cmd.stdin(Stdio::piped()).stdout(Stdio::null());
        let running = Running::spawn(&mut cmd, None).unwrap();
        let mut source = b"some input\n".chain(Broken);
        assert!(matches!(feed(running, &mut source), Err(FeedError::Source(_))));
        assert!(!marker.exists());
    }
}
