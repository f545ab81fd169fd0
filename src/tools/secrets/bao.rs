//! OpenBao / HashiCorp Vault, KV secrets engine version 2, over its HTTP API:
//! `GET $BAO_ADDR/v1/MOUNT/data/PATH` with the token in `X-Vault-Token`, answered
//! with `{"data": {"data": {KEY: value, …}, "metadata": {…}}}`. The address comes
//! from `BAO_ADDR` (else `VAULT_ADDR`), the token from `BAO_TOKEN` (else
//! `VAULT_TOKEN`). A redirect is never followed: the token would go with it.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

/// Pure: the URL of a KV v2 secret (`MOUNT` and `PATH` are plain segments, checked
/// by the grammar).
pub fn url(addr: &str, mount: &str, path: &str) -> Result<reqwest::Url, String> {
    let base = reqwest::Url::parse(addr.trim_end_matches('/'))
        .map_err(|e| format!("BAO_ADDR {addr:?} is not a URL: {e}"))?;
    if !matches!(base.scheme(), "http" | "https") || base.query().is_some() {
        return Err(format!(
            "BAO_ADDR {addr:?} is not an http(s) address without a query"
        ));
    }
    let mut u = base.clone();
    {
        let mut segs = u
            .path_segments_mut()
            .map_err(|_| format!("BAO_ADDR {addr:?} cannot carry a path"))?;
        segs.pop_if_empty();
        segs.push("v1").push(mount).push("data");
        for s in path.split('/') {
            segs.push(s);
        }
    }
    Ok(u)
}

/// The largest answer read from the server.
const MAX_ANSWER: u64 = 1 << 20;

#[derive(Deserialize)]
struct Answer {
    data: Option<Inner>,
}

#[derive(Deserialize)]
struct Inner {
    data: Option<BTreeMap<String, serde_json::Value>>,
}

/// Pure: the keys of a KV v2 read answer. String values as they are; other JSON
/// values as their JSON text.
pub fn parse(json: &str) -> Result<BTreeMap<String, String>, String> {
    let a: Answer = serde_json::from_str(json).map_err(|e| {
        format!(
            "the answer is not a KV v2 secret ({})",
            crate::support::error::json_where(&e)
        )
    })?;
    let data = a
        .data
        .and_then(|d| d.data)
        .ok_or("the answer has no data.data (a deleted version, or not a KV v2 mount)")?;
    Ok(data
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

/// Reads one secret's keys. `env` gives a variable: kinfra's own environment,
/// never a repository's literal entries (they would choose where the token goes).
pub fn read(
    env: &dyn Fn(&str) -> Option<String>,
    mount: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, String> {
    use crate::support::env_vars::EnvVars;
    let addr = env(EnvVars::BAO_ADDR)
        .or_else(|| env(EnvVars::VAULT_ADDR))
        .ok_or("neither BAO_ADDR nor VAULT_ADDR is set")?;
    let token = env(EnvVars::BAO_TOKEN)
        .or_else(|| env(EnvVars::VAULT_TOKEN))
        .ok_or("neither BAO_TOKEN nor VAULT_TOKEN is set")?;
    let u = url(&addr, mount, path)?;
    let client = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| format!("no HTTP client: {e}"))?;
    let resp = client
        .get(u.clone())
        .header("X-Vault-Token", token)
        .send()
        .map_err(|e| format!("{u}: {}", crate::support::error::root_cause(&e)))?;
    let status = resp.status();
    if status.is_redirection() {
        return Err(format!(
            "{u} answered {status} (a redirect, not followed: the token would go with it)"
        ));
    }
    // A KV secret is small: a server answering without end must not fill memory.
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        resp.take(MAX_ANSWER + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{u}: {}", crate::support::error::root_cause(&e)))?;
    }
    if bytes.len() as u64 > MAX_ANSWER {
        return Err(format!(
            "{u} answered more than {} MiB: not a KV v2 secret",
            MAX_ANSWER >> 20
        ));
    }
    let body = String::from_utf8_lossy(&bytes).into_owned();
    if !status.is_success() {
        let why = match status.as_u16() {
            403 => "permission denied (the token cannot read it, or has expired)",
            404 => "no such secret",
            _ => "the server refused",
        };
        return Err(format!("{u} answered {status}: {why}"));
    }
    parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_follows_the_kv2_api() {
        assert_eq!(
            url("http://127.0.0.1:8200", "secret", "shop/dev")
                .unwrap()
                .as_str(),
            "http://127.0.0.1:8200/v1/secret/data/shop/dev"
        );
        assert_eq!(
            url("https://bao.example/prefix/", "kv", "a")
                .unwrap()
                .as_str(),
            "https://bao.example/prefix/v1/kv/data/a"
        );
        assert!(url("file:///etc", "kv", "a").is_err());
        assert!(url("not a url", "kv", "a").is_err());
    }

    #[test]
    fn answers_are_read_as_documented() {
        // Shape of `GET /v1/secret/data/:path` (KV v2).
        let a = r#"{"request_id":"r","lease_id":"","renewable":false,"lease_duration":0,
          "data":{"data":{"api-key":"k$1\n","n":5},"metadata":{"created_time":"2026-01-01T00:00:00Z","version":2}}}"#;
        let m = parse(a).unwrap();
        assert_eq!(m["api-key"], "k$1\n");
        assert_eq!(m["n"], "5");
        assert!(parse(r#"{"data":{"data":null,"metadata":{}}}"#).is_err());
        assert!(parse("[]").is_err());
        assert!(parse("").is_err());
        // An error never quotes the answer: it may be a secret.
        let e = parse(r#"{"data":{"data":"s3cretV"}}"#).unwrap_err();
        assert!(e.contains("line 1") && !e.contains("s3cretV"), "{e}");
    }

    /// A stand-in KV v2 server answering each request with `answer(path, token)`;
    /// returns its address and the request count.
    fn stand_in(
        answer: fn(&str, &str) -> String,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::io::{BufRead, BufReader, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let n = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = n.clone();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let mut token = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':')
                        && k.eq_ignore_ascii_case("x-vault-token")
                    {
                        token = v.trim().to_string();
                    }
                }
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                let _ = (&s).write_all(answer(&path, &token).as_bytes());
            }
        });
        (addr, n)
    }

    fn http(status: &str, extra: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }

    #[test]
    fn a_redirect_is_never_followed_and_the_token_goes_only_where_asked() {
        let (addr, n) = stand_in(|path, token| match (path, token) {
            ("/v1/secret/data/moved", _) => http(
                "307 Temporary Redirect",
                "Location: /v1/secret/data/ok\r\n",
                "",
            ),
            ("/v1/secret/data/ok", "t0k") => http("200 OK", "", r#"{"data":{"data":{"k":"v"}}}"#),
            _ => http("403 Forbidden", "", r#"{"errors":["permission denied"]}"#),
        });
        let a = addr.clone();
        let env = move |n: &str| match n {
            "BAO_ADDR" => Some(a.clone()),
            "VAULT_TOKEN" => Some("t0k".to_string()),
            _ => None,
        };
        let e = read(&env, "secret", "moved").unwrap_err();
        assert!(e.contains("redirect") && e.contains("not followed"), "{e}");
        assert_eq!(n.load(std::sync::atomic::Ordering::SeqCst), 1, "followed");
        assert_eq!(read(&env, "secret", "ok").unwrap()["k"], "v");
        let bad_token = |n: &str| match n {
            "VAULT_ADDR" => Some(addr.clone()),
            "BAO_TOKEN" => Some("wrong".to_string()),
            _ => None,
        };
        let e = read(&bad_token, "secret", "ok").unwrap_err();
        assert!(e.contains("403") && !e.contains("wrong"), "{e}");
        let e = read(&|_: &str| None, "secret", "ok").unwrap_err();
        assert!(e.contains("BAO_ADDR"), "{e}");
        // An answer without end is cut, not read into memory.
        let (huge, _) = stand_in(|_, _| {
            let body = format!(r#"{{"data":{{"data":{{"k":"{}"}}}}}}"#, "x".repeat(3 << 20));
            http("200 OK", "", &body)
        });
        let e = read(
            &|n: &str| match n {
                "BAO_ADDR" => Some(huge.clone()),
                "BAO_TOKEN" => Some("t".into()),
                _ => None,
            },
            "secret",
            "big",
        )
        .unwrap_err();
        assert!(e.contains("more than 1 MiB"), "{e}");
        let e = read(&|_: &str| None, "secret", "ok").unwrap_err();
        assert!(e.contains("BAO_ADDR"), "{e}");
    }
}
