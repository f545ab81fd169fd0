//! The gate's probes: one try of a check (a TCP connect, an HTTP status, a JSON
//! array's length), and the pure judgements the gate's engine polls: whether a
//! service's containers, as `docker ps` printed them, are ready, pending or failed;
//! which container died; the only URL a check's path may reach.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::instance::model::env::SandboxEnv;
use crate::stack::Check;
use crate::tools::docker::Health;

/// Tries a check once: Ok on success, Err(reason) otherwise.
pub fn probe(
    client: &reqwest::blocking::Client,
    check: &Check,
    env: &SandboxEnv,
) -> Result<(), String> {
    let port_of = |key: &str| env.port(key).ok_or_else(|| format!("{key} is not set"));
    match check {
        Check::Tcp { port_key } => {
            let port = port_of(port_key)?;
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            TcpStream::connect_timeout(&addr, Duration::from_secs(1))
                .map(|_| ())
                .map_err(|e| format!("127.0.0.1:{port}: {e}"))
        }
        Check::Http { port_key, path, ok } => {
            let (url, resp) = get(client, port_of(port_key)?, path)?;
            let code = resp.status().as_u16();
            if ok.contains(&code) {
                Ok(())
            } else {
                Err(format!("GET {url} answered {code}"))
            }
        }
        Check::JsonLength {
            port_key,
            path,
            pointer,
            min,
        } => {
            let (url, resp) = get(client, port_of(port_key)?, path)?;
            let code = resp.status().as_u16();
            if code != 200 {
                return Err(format!("GET {url} answered {code}"));
            }
            let body = resp.text().map_err(|e| format!("GET {url}: {e}"))?;
            let n = json_length(&body, pointer)
                .ok_or_else(|| format!("GET {url}: no JSON array at {pointer:?}"))?;
            if n >= *min {
                Ok(())
            } else {
                Err(format!("{n} item(s) at {url}, expected at least {min}"))
            }
        }
    }
}

/// Whether `GET http://127.0.0.1:<port><path>` answers 2xx within 3 s (a host
/// service's health URL).
pub fn http_ok(port: u16, path: &str) -> bool {
    let Ok(client) = client() else {
        return false;
    };
    get(&client, port, path).is_ok_and(|(_, r)| r.status().is_success())
}

/// The client every probe uses: short timeouts, no proxy, plain http to localhost
/// (no CA store to load).
pub(super) fn client() -> reqwest::Result<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .tls_built_in_root_certs(false)
        .build()
}

/// `GET http://127.0.0.1:<port><path>`; the error names the URL and the root cause.
fn get(
    client: &reqwest::blocking::Client,
    port: u16,
    path: &str,
) -> Result<(String, reqwest::blocking::Response), String> {
    let url = local_url(port, path)?;
    match client.get(url.as_str()).send() {
        Ok(resp) => Ok((url.to_string(), resp)),
        Err(e) => Err(format!(
            "GET {url}: {}",
            crate::support::error::root_cause(&e)
        )),
    }
}

/// Pure: `http://127.0.0.1:<port>` with `path` (and its query) set as parts, so no
/// path can name another host, port or user (`@127.0.0.1:9999/x`).
pub fn local_url(port: u16, path: &str) -> Result<reqwest::Url, String> {
    crate::support::validate::http_path(path)?;
    let mut url = reqwest::Url::parse("http://127.0.0.1/").map_err(|e| e.to_string())?;
    url.set_port(Some(port))
        .map_err(|()| format!("port {port} cannot be used"))?;
    let (p, q) = path
        .split_once('?')
        .map_or((path, None), |(p, q)| (p, Some(q)));
    url.set_path(p);
    url.set_query(q);
    if url.host_str() != Some("127.0.0.1") || url.port() != Some(port) {
        return Err(format!("{path:?} would leave 127.0.0.1:{port}"));
    }
    Ok(url)
}

/// Pure: the length of the array at `pointer` (RFC 6901) in a JSON body, or of
/// the body itself when it is an array.
pub fn json_length(body: &str, pointer: &str) -> Option<usize> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    match &v {
        serde_json::Value::Array(a) => Some(a.len()),
        _ => v.pointer(pointer)?.as_array().map(Vec::len),
    }
}

/// A container of the project that has died: exited non-zero, restarting, dead.
pub fn dead_container(cs: &[crate::tools::docker::Container]) -> Option<(String, String)> {
    cs.iter()
        .find(|c| c.died())
        .map(|c| (c.service.clone(), c.status.clone()))
}

/// How one service stands in the default gate.
#[derive(Debug, Clone, PartialEq)]
pub enum ServiceState {
    Ready,
    /// Not yet: why.
    Pending(String),
    /// Will not be: exited non-zero, restarting, dead, unhealthy.
    Failed(String),
}

/// Pure: a service is ready when each of its containers runs (healthy, if it has a
/// healthcheck, its own or its image's) or has finished with exit 0 (a one-shot job).
pub fn service_state(containers: &[&crate::tools::docker::Container]) -> ServiceState {
    if containers.is_empty() {
        return ServiceState::Pending("no container yet".into());
    }
    for c in containers {
        if c.died() {
            return ServiceState::Failed(c.status.clone());
        }
        match c.health() {
            Some(Health::Unhealthy) => return ServiceState::Failed(c.status.clone()),
            Some(Health::Starting) => return ServiceState::Pending("health: starting".into()),
            _ => {}
        }
        if !c.running() && !c.exited_cleanly() {
            return ServiceState::Pending(c.status.clone());
        }
    }
    ServiceState::Ready
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::docker::parse_ps;

    #[test]
    fn gate_urls_stay_on_the_instance_port() {
        assert_eq!(
            local_url(8001, "/api/v1/workers?x=1").unwrap().as_str(),
            "http://127.0.0.1:8001/api/v1/workers?x=1"
        );
        for bad in ["@127.0.0.1:9999/x", "//evil:1/x", "x", "/a@b:1"] {
            assert!(local_url(8001, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn counts_both_worker_shapes() {
        assert_eq!(json_length(r#"[{"a":1},{"b":2}]"#, "/workers"), Some(2));
        assert_eq!(json_length(r#"{"workers":[1,2,3,4]}"#, "/workers"), Some(4));
        assert_eq!(
            json_length(r#"{"data":{"items":[1]}}"#, "/data/items"),
            Some(1)
        );
        assert_eq!(json_length(r#"{"other":[]}"#, "/workers"), None);
        assert_eq!(json_length("oops", "/workers"), None);
    }

    #[test]
    fn the_default_gate_wants_running_and_healthy() {
        let cs = parse_ps(
            "a\tp\tweb\trunning\tUp 3 seconds (healthy)\tp-web-1\t\n\
             b\tp\tdb\trunning\tUp 1 second (health: starting)\tp-db-1\t\n\
             c\tp\tjob\texited\tExited (0) 1 second ago\tp-job-1\t\n\
             d\tp\tapi\trunning\tUp 2 seconds (unhealthy)\tp-api-1\t\n\
             e\tp\tcache\tcreated\tCreated\tp-cache-1\t\n\
             f\tp\tbad\texited\tExited (3) 1 second ago\tp-bad-1\t\n\
             g\tp\tplain\trunning\tUp 4 seconds\tp-plain-1\t\n",
        );
        let of = |svc: &str| {
            let mine: Vec<&crate::tools::docker::Container> =
                cs.iter().filter(|c| c.service == svc).collect();
            service_state(&mine)
        };
        assert_eq!(of("web"), ServiceState::Ready);
        assert_eq!(of("plain"), ServiceState::Ready);
        assert_eq!(of("job"), ServiceState::Ready);
        assert_eq!(of("db"), ServiceState::Pending("health: starting".into()));
        assert_eq!(of("cache"), ServiceState::Pending("Created".into()));
        assert_eq!(of("none"), ServiceState::Pending("no container yet".into()));
        assert!(matches!(of("api"), ServiceState::Failed(s) if s.contains("unhealthy")));
        assert!(matches!(of("bad"), ServiceState::Failed(s) if s.contains("Exited (3)")));
    }

    #[test]
    fn dead_containers_are_noticed() {
        let cs = parse_ps(
            "a\tp\tbackend\trestarting\tRestarting (1) 2 seconds ago\tp-backend-1\t\nb\tp\tdb\trunning\tUp\tp-db-1\t\n",
        );
        assert_eq!(dead_container(&cs).unwrap().0, "backend");
        let ok = parse_ps("a\tp\tinit\texited\tExited (0) 1 second ago\tp-init-1\t\n");
        assert!(dead_container(&ok).is_none());
    }
}
