//! Encrypted backups: standard age files (the `age` crate, str4d/rage) written to `backup_encrypt_to` /
//! `--encrypt-to` recipients as the backup streams out, and read back with an identity given at restore time
//! (`--identity FILE`, or uploaded on the Backups page and never stored).

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufWriter, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

use crate::error::{Error, Result};

/// The first line of every age file.
pub const MAGIC: &[u8] = b"age-encryption.org/v1";

/// The ending added to an encrypted backup's name.
pub const SUFFIX: &str = ".age";

/// Checks one `age1…` recipient; the error says what was wrong with it.
pub fn parse_recipient(text: &str) -> std::result::Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(text.trim())
        .map_err(|e| format!("{:?} is not an age recipient (age1…, as age-keygen prints): {e}", text.trim()))
}

/// Splits `age1…, age1…` (commas or spaces) and checks each recipient.
pub fn parse_recipients(text: &str) -> std::result::Result<Vec<String>, String> {
    let list: Vec<String> =
        text.split(|c: char| c == ',' || c.is_whitespace()).filter(|s| !s.is_empty()).map(String::from).collect();
    if list.is_empty() {
        return Err("no recipient: give one or more age1… public keys".into());
    }
    for r in &list {
        parse_recipient(r)?;
    }
    Ok(list)
}

/// The identities an encrypted backup is opened with: the X25519 keys of an age identity file (as age-keygen writes
/// it), held in memory only.
#[derive(Clone)]
pub struct Identities(Arc<Vec<age::x25519::Identity>>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} key(s), not shown)", self.0.len())
    }
}

impl Identities {
    /// Parses the text of an age identity file (`AGE-SECRET-KEY-1…` lines, `#` comments). The error never
    /// repeats the text.
    pub fn parse(text: &[u8]) -> Result<Identities> {
        let refused = |why: String| {
            Error::BadRequest(format!(
                "the identity is not an age identity file ({why}): give the file age-keygen wrote, with its
                 AGE-SECRET-KEY-… line; nothing was restored"
            ))
        };
        let text = std::str::from_utf8(text).map_err(|_| refused("it is not text".into()))?;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = age::x25519::Identity::from_str(line)
                .map_err(|_| refused(format!("line {} is not an age secret key", n + 1)))?;
            keys.push(key);
        }
        if keys.is_empty() {
            return Err(refused("it holds no key".into()));
        }
        Ok(Identities(Arc::new(keys)))
    }

    /// Reads an identity file from disk.
    pub fn read(path: &Path) -> Result<Identities> {
        let text = std::fs::read(path)
            .map_err(|e| Error::io(format!("cannot read the identity file {}", path.display()), e))?;
        Identities::parse(&text)
    }

    /// Decrypts the age stream `input` (of the backup at `path`, for messages).
    pub fn open<R: BufRead>(&self, input: R, path: &Path) -> Result<age::stream::StreamReader<R>> {
        let decryptor = age::Decryptor::new_buffered(input).map_err(|e| refuse(path, e))?;
        decryptor.decrypt(self.0.iter().map(|i| i as &dyn age::Identity)).map_err(|e| refuse(path, e))
    }
}

fn refuse(path: &Path, e: age::DecryptError) -> Error {
    match e {
        age::DecryptError::NoMatchingKeys => Error::BadRequest(format!(
            "the identity given does not open {}: it was encrypted to other recipients (backup_encrypt_to); give \
             the identity file of one of them; nothing was restored",
            path.display()
        )),
        other => Error::Backup(format!(
            "the encrypted backup {} cannot be read ({other}); nothing was restored",
            path.display()
        )),
    }
}

/// The error for an encrypted backup restored without an identity.
pub fn needs_identity(path: &Path) -> Error {
    Error::BadRequest(format!(
        "{} is encrypted (age): give the identity file of one of its recipients with --identity FILE (on the \
         Backups page: the identity field of the restore form; for scheduled restore tests: restore_test_identity \
         = FILE in the database's section); nothing was restored",
        path.display()
    ))
}

/// Where a backup's bytes go: the file itself, or an age stream to the recipients in front of it. Finished with
/// [`Sink::finish`] (an age file is only complete with its last chunk).
pub enum Sink {
    Plain(BufWriter<File>),
    Age(age::stream::StreamWriter<BufWriter<File>>),
}

impl Sink {
    /// A sink into `out`, encrypted to `recipients` when there are any.
    pub fn new(out: File, recipients: &[String]) -> Result<Sink> {
        let out = BufWriter::with_capacity(1 << 16, out);
        if recipients.is_empty() {
            return Ok(Sink::Plain(out));
        }
        let parsed = recipients
            .iter()
            .map(|r| parse_recipient(r).map_err(Error::BadRequest))
            .collect::<Result<Vec<age::x25519::Recipient>>>()?;
        let encryptor = age::Encryptor::with_recipients(parsed.iter().map(|r| r as &dyn age::Recipient))
            .map_err(|e| Error::Backup(format!("cannot encrypt the backup: {e}")))?;
        let writer =
            encryptor.wrap_output(out).map_err(|e| Error::io("cannot write the backup; nothing was kept", e))?;
        Ok(Sink::Age(writer))
    }

    /// Writes the end of the age stream (when encrypting) and flushes.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Sink::Plain(mut w) => w.flush(),
            Sink::Age(w) => w.finish()?.flush(),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Age(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Age(w) => w.flush(),
        }
    }
}

/// Whether the file at `path` starts like an age file.
pub fn is_encrypted(path: &Path) -> bool {
    let mut head = [0u8; MAGIC.len()];
    File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recipients_are_checked_one_by_one() {
        let key = age::x25519::Identity::generate().to_public().to_string();
        assert_eq!(parse_recipients(&format!("{key}, {key}")).unwrap().len(), 2);
        let e = parse_recipients(&format!("{key}, age1nope")).unwrap_err();
        assert!(e.contains("age1nope") && e.contains("not an age recipient"), "{e}");
        assert!(parse_recipients(" , ").is_err());
    }

    #[test]
    fn a_sink_round_trips_through_an_identity_and_refuses_another() {
        use age::secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.age");
        let key = age::x25519::Identity::generate();
        let mut sink = Sink::new(File::create(&path).unwrap(), &[key.to_public().to_string()]).unwrap();
        sink.write_all(b"hello, backup").unwrap();
        sink.finish().unwrap();
        assert!(is_encrypted(&path));
        let ids = Identities::parse(key.to_string().expose_secret().as_bytes()).unwrap();
        assert!(!format!("{ids:?}").contains("AGE-SECRET"), "never shown");
        let mut out = String::new();
        ids.open(io::BufReader::new(File::open(&path).unwrap()), &path).unwrap().read_to_string(&mut out).unwrap();
        assert_eq!(out, "hello, backup");
        let other = age::x25519::Identity::generate();
        let other = Identities::parse(other.to_string().expose_secret().as_bytes()).unwrap();
        let e = other.open(io::BufReader::new(File::open(&path).unwrap()), &path).err().unwrap().to_string();
        assert!(e.contains("does not open"), "{e}");
        let e = Identities::parse(b"not a key").unwrap_err().to_string();
        assert!(e.contains("not an age identity file") && !e.contains("not a key\""), "{e}");
    }
}
