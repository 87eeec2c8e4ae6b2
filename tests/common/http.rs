//! A visitor of a real `strata serve` over plain HTTP/1.1 on loopback: a cookie jar of one session cookie, the
//! latest CSRF token, forms, and a client timeout on every request.

use std::time::Duration;

/// One HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A browser in miniature for one server port.
pub struct Visitor {
    pub port: u16,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    pub timeout: Duration,
}

impl Visitor {
    pub fn new(port: u16) -> Visitor {
        Visitor { port, cookie: None, csrf: None, timeout: Duration::from_secs(10) }
    }

    /// The same visitor (cookie and token) at another server.
    pub fn at(&self, port: u16) -> Visitor {
        Visitor { port, cookie: self.cookie.clone(), csrf: self.csrf.clone(), timeout: self.timeout }
    }

    /// `Err` when the server did not answer within the timeout.
    pub async fn send(&mut self, method: &str, path: &str, form: Option<&str>) -> Result<Reply, String> {
        let exchange = async {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await?;
            let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
            if let Some(c) = &self.cookie {
                head.push_str(&format!("Cookie: strata_session={c}\r\n"));
            }
            let body = form.unwrap_or("");
            if form.is_some() {
                head.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
            s.write_all(head.as_bytes()).await?;
            let mut raw = Vec::new();
            s.read_to_end(&mut raw).await?;
            Ok::<_, std::io::Error>(raw)
        };
        let raw = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(raw)) => raw,
            Ok(Err(e)) => return Err(format!("{method} {path}: {e}")),
            Err(_) => return Err(format!("{method} {path}: no answer within {:?}", self.timeout)),
        };
        let reply = parse(&raw);
        for (name, value) in &reply.headers {
            if let Some(v) = value.strip_prefix("strata_session=").filter(|_| name.eq_ignore_ascii_case("set-cookie")) {
                let id = v.split(';').next().unwrap_or("");
                self.cookie = (!id.is_empty() && !v.contains("Max-Age=0")).then(|| id.to_string());
            }
        }
        if let Some(token) = csrf_in(&reply.body) {
            self.csrf = Some(token);
        }
        Ok(reply)
    }

    pub async fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, None).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Posts a form with the latest CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Reply {
        let token = self.csrf.clone().expect("a CSRF token: GET a page with a form first");
        let mut all = fields.to_vec();
        all.push(("_csrf", &token));
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(all).finish();
        self.send("POST", path, Some(&body)).await.unwrap_or_else(|e| panic!("{e}"))
    }

    /// Signs in through the login form; the answer to the POST.
    pub async fn sign_in(&mut self, username: &str, password: &str) -> Reply {
        let form = self.get("/login").await;
        assert_eq!(form.status, 200, "{}", form.body);
        self.post("/login", &[("username", username), ("password", password)]).await
    }
}

fn parse(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).unwrap_or(0);
    let headers: Vec<(String, String)> =
        lines.filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))).collect();
    let chunked = headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked { dechunk(body) } else { body.to_string() };
    Reply { status, headers, body }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else { break };
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    out
}

fn csrf_in(page: &str) -> Option<String> {
    const MARK: &str = r#"name="_csrf" value=""#;
    let at = page.find(MARK)? + MARK.len();
    Some(page[at..].split('"').next()?.to_string())
}
