//! A real S3-compatible server for the off-site tests: moto's server mode (PyPI `moto[server]`, installed by
//! scripts/test.sh into `target/moto-venv`, or `STRATA_MOTO_SERVER`) on a free loopback port, with its IAM checks
//! on so that a wrong secret is refused as a real S3 would.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Moto {
    child: Child,
    pub port: u16,
    pub key_id: String,
    pub secret: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

pub fn moto_server() -> PathBuf {
    if let Some(path) = std::env::var_os("STRATA_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/moto-venv/bin/moto_server");
    assert!(
        venv.exists(),
        "moto_server is missing: run scripts/test.sh (it installs it), or `python3 -m venv target/moto-venv && \
         target/moto-venv/bin/pip install 'moto[server]'`, or set STRATA_MOTO_SERVER to its path"
    );
    venv
}

/// One raw HTTP request to the server; the response body.
pub fn http(port: u16, method: &str, path: &str, service: &str, body: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Within INITIAL_NO_AUTH_ACTION_COUNT moto does not check signatures; the scope routes the request.
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=AKIASETUP/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
    );
    write!(
        s,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"), "{method} {path}: {out}");
    out
}

pub fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    let start = text.find(open).unwrap_or_else(|| panic!("{open} in {text}")) + open.len();
    &text[start..start + text[start..].find(close).unwrap()]
}

/// Starts moto with its IAM checks on after 4 set-up requests: a user, its key, a policy, and the bucket.
pub fn start_moto(bucket: &str) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(moto_server())
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server");
    let mut moto = Moto { child, port, key_id: String::new(), secret: String::new() };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(60), "moto_server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    http(port, "POST", "/", "iam", "Action=CreateUser&UserName=strata&Version=2010-05-08");
    let key = http(port, "POST", "/", "iam", "Action=CreateAccessKey&UserName=strata&Version=2010-05-08");
    moto.key_id = between(&key, "<AccessKeyId>", "<").to_string();
    moto.secret = between(&key, "<SecretAccessKey>", "<").to_string();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#;
    let policy: String = policy.bytes().map(|b| format!("%{b:02X}")).collect();
    http(
        port,
        "POST",
        "/",
        "iam",
        &format!("Action=PutUserPolicy&UserName=strata&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"),
    );
    http(port, "PUT", &format!("/{bucket}"), "s3", "");
    moto
}
