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
    let a: Answer =
        serde_json::from_str(json).map_err(|e| format!("the answer is not a KV v2 secret: {e}"))?;
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

/// Reads one secret's keys. `env` gives a variable (the environment, with the
/// stack's literal entries over it).
pub fn read(
    env: &dyn Fn(&str) -> Option<String>,
    mount: &str,
    path: &str,
) -> Result<BTreeMap<String, String>, String> {
    let addr = env("BAO_ADDR")
        .or_else(|| env("VAULT_ADDR"))
        .ok_or("neither BAO_ADDR nor VAULT_ADDR is set")?;
    let token = env("BAO_TOKEN")
        .or_else(|| env("VAULT_TOKEN"))
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
    let body = resp.text().map_err(|e| format!("{u}: {e}"))?;
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
    }
}
