//! A pg_dump script on its way into psql: its own `CREATE SCHEMA` entries tolerate a schema that exists.
//!
//! `pg_dump -n public` (and every dump of a schema other than `public`) creates the schema it dumps, and
//! an empty database already has `public`: psql stops at `schema "public" already exists` and the whole
//! restore rolls back. pg_dump writes each object under a `-- Name: ...; Type: ...` comment, so its schema
//! entries are recognised by that comment and become `CREATE SCHEMA IF NOT EXISTS`; the same words anywhere
//! else (a function body, a row of data) pass untouched.

use std::io::{self, BufRead, Read};

/// What a schema entry's `CREATE` starts with, and what it becomes.
const CREATE: &[u8] = b"CREATE SCHEMA ";
const CREATE_IF_NOT_EXISTS: &[u8] = b"CREATE SCHEMA IF NOT EXISTS ";

/// Reads a plain-format pg_dump script with its schema entries made tolerant (see the module comment).
pub struct TolerantSchemas<R> {
    inner: R,
    /// The current line (with its `\n`), and how much of it was handed out.
    line: Vec<u8>,
    at: usize,
    /// The last comment seen was pg_dump's header of a schema entry, and no statement came since.
    in_schema_entry: bool,
}

impl<R: BufRead> TolerantSchemas<R> {
    pub fn new(inner: R) -> TolerantSchemas<R> {
        TolerantSchemas { inner, line: Vec::new(), at: 0, in_schema_entry: false }
    }

    /// Reads the next line into `line`, rewritten when it is a schema entry's `CREATE SCHEMA`; false at the end.
    fn next_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        self.at = 0;
        if self.inner.read_until(b'\n', &mut self.line)? == 0 {
            return Ok(false);
        }
        let text = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.starts_with(b"-- Name: ") {
            self.in_schema_entry = contains(text, b"; Type: SCHEMA;");
        } else if self.in_schema_entry && text.starts_with(CREATE) && text.ends_with(b";") {
            self.in_schema_entry = false;
            let rest = self.line[CREATE.len()..].to_vec();
            self.line.clear();
            self.line.extend_from_slice(CREATE_IF_NOT_EXISTS);
            self.line.extend_from_slice(&rest);
        } else if !(text.is_empty() || text == b"--") {
            self.in_schema_entry = false;
        }
        Ok(true)
    }
}

impl<R: BufRead> Read for TolerantSchemas<R> {
    /// Fills `buf` with as many lines as fit: psql gets large writes, not one per line.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            if self.at == self.line.len() && !self.next_line()? {
                break;
            }
            let n = (buf.len() - filled).min(self.line.len() - self.at);
            buf[filled..filled + n].copy_from_slice(&self.line[self.at..self.at + n]);
            self.at += n;
            filled += n;
        }
        Ok(filled)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(script: &str, chunk: usize) -> String {
        let mut reader = TolerantSchemas::new(io::BufReader::with_capacity(7, script.as_bytes()));
        let mut out = Vec::new();
        let mut buf = vec![0u8; chunk];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn only_pg_dump_s_own_schema_entries_become_if_not_exists() {
        let script = "--\n-- Name: public; Type: SCHEMA; Schema: -; Owner: pg_database_owner\n--\n\n\
                      CREATE SCHEMA public;\n\n\
                      ALTER SCHEMA public OWNER TO pg_database_owner;\n\
                      --\n-- Name: Odd \"s\"; Type: SCHEMA; Schema: -; Owner: app\n--\n\n\
                      CREATE SCHEMA \"Odd \"\"s\"\"\";\r\n\
                      --\n-- Name: f(); Type: FUNCTION; Schema: public; Owner: app\n--\n\n\
                      CREATE FUNCTION public.f() RETURNS void LANGUAGE sql AS $$\n\
                      CREATE SCHEMA inner_one;\n$$;\n\
                      CREATE SCHEMA not_an_entry;\n\
                      COPY public.t (v) FROM stdin;\nCREATE SCHEMA data_row;\n\\.\n";
        for chunk in [1, 5, 64, 1 << 16] {
            let out = through(script, chunk);
            assert!(out.contains("\nCREATE SCHEMA IF NOT EXISTS public;\n"), "{out}");
            assert!(out.contains("\nCREATE SCHEMA IF NOT EXISTS \"Odd \"\"s\"\"\";\r\n"), "{out}");
            for untouched in ["CREATE SCHEMA inner_one;", "CREATE SCHEMA not_an_entry;", "CREATE SCHEMA data_row;"] {
                assert!(out.contains(&format!("\n{untouched}\n")), "{untouched} stays: {out}");
            }
            assert_eq!(out.replace(" IF NOT EXISTS", ""), script, "nothing else changes (chunks of {chunk})");
        }
    }
}
