//! git's smart HTTP protocol for libgit2, on reqwest. libgit2's own https transport
//! sets up OpenSSL and parses the whole CA bundle (~20 ms of CPU) when libgit2
//! starts, in every run, whether or not anything is fetched over https; here TLS is
//! set up on the first https request, so a local clone (or an audit) never pays it.
//! reqwest also honours `HTTPS_PROXY`/`NO_PROXY` like git does. Clone and fetch only.

use std::io::{self, Read, Write};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

use crate::support::error::root_cause;
use git2::transport::{Service, SmartSubtransport, SmartSubtransportStream, Transport};

const USER_AGENT: &str = concat!("git/2.0 (kinfra ", env!("CARGO_PKG_VERSION"), ")");

/// Makes libgit2 use this transport for `http://` and `https://` URLs. Idempotent.
#[allow(unsafe_code)]
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for scheme in ["http", "https"] {
            // SAFETY: git2 requires registration not to race the creation of other
            // transports. The Once runs it before kinfra's only transport user
            // (`clone::clone`) creates any, and nothing else in kinfra fetches.
            let registered = unsafe {
                git2::transport::register(scheme, |remote| {
                    Transport::smart(remote, true, Http::default())
                })
            };
            // Only fails if the scheme is registered already (not by us: Once).
            debug_assert!(registered.is_ok(), "{registered:?}");
        }
    });
}

/// One clone's connection state: the client (built on the first request) and the
/// repository's base URL (updated if the server redirects).
#[derive(Default)]
struct Http {
    client: Arc<OnceLock<Result<reqwest::blocking::Client, String>>>,
    base: Arc<Mutex<Option<String>>>,
}

impl SmartSubtransport for Http {
    fn action(
        &self,
        url: &str,
        action: Service,
    ) -> Result<Box<dyn SmartSubtransportStream>, git2::Error> {
        let (path, post) = match action {
            Service::UploadPackLs => ("/info/refs?service=git-upload-pack", false),
            Service::UploadPack => ("/git-upload-pack", true),
            Service::ReceivePackLs | Service::ReceivePack => {
                return Err(git2::Error::from_str(
                    "pushing over HTTP is not supported by kinfra",
                ));
            }
        };
        let base = {
            let mut b = self.base.lock().map_err(|_| poisoned())?;
            b.get_or_insert_with(|| url.trim_end_matches('/').to_string())
                .clone()
        };
        Ok(Box::new(Request {
            client: self.client.clone(),
            base: self.base.clone(),
            url: format!("{base}{path}"),
            path,
            post,
            body: Vec::new(),
            response: None,
        }))
    }

    fn close(&self) -> Result<(), git2::Error> {
        Ok(())
    }
}

fn poisoned() -> git2::Error {
    git2::Error::from_str("HTTP transport state poisoned by an earlier panic")
}

/// One request: libgit2 writes the body (POST), then reads the response, which is
/// sent on the first read and streamed (a large pack is never held in memory).
struct Request {
    client: Arc<OnceLock<Result<reqwest::blocking::Client, String>>>,
    base: Arc<Mutex<Option<String>>>,
    url: String,
    path: &'static str,
    post: bool,
    body: Vec<u8>,
    response: Option<reqwest::blocking::Response>,
}

impl Request {
    fn send(&mut self) -> io::Result<reqwest::blocking::Response> {
        let client = self
            .client
            .get_or_init(|| {
                reqwest::blocking::Client::builder()
                    .user_agent(USER_AGENT)
                    .connect_timeout(Duration::from_secs(30))
                    // Per read: a stalled server fails; a long download does not.
                    .timeout(Duration::from_secs(120))
                    .build()
                    .map_err(|e| format!("could not set up HTTPS: {}", root_cause(&e)))
            })
            .as_ref()
            .map_err(|e| io::Error::other(e.clone()))?;
        let req = if self.post {
            client
                .post(&self.url)
                .header("Content-Type", "application/x-git-upload-pack-request")
                .header("Accept", "application/x-git-upload-pack-result")
                .body(std::mem::take(&mut self.body))
        } else {
            client.get(&self.url)
        };
        let resp = req.send().map_err(|e| {
            let cause = root_cause(&e);
            let hint = if cause.contains("certificate") {
                " (if a proxy or your company signs HTTPS with its own CA, point SSL_CERT_FILE at a bundle that includes it)"
            } else if e.is_connect() || e.is_timeout() {
                " (the network or the server is unreachable: check the connection, or set HTTPS_PROXY if you need a proxy; rerun setup when it works, it resumes)"
            } else {
                ""
            };
            io::Error::other(format!("{}: {cause}{hint}", self.url))
        })?;
        let status = resp.status();
        if !status.is_success() {
            let hint = match status.as_u16() {
                401 | 403 => {
                    " (the repository needs credentials; kinfra-setup clones public repositories over HTTPS, or a local path)"
                }
                404 => " (no repository at this URL)",
                _ => "",
            };
            return Err(io::Error::other(format!(
                "{} answered HTTP {status}{hint}",
                self.url
            )));
        }
        let want = if self.post {
            "application/x-git-upload-pack-result"
        } else {
            "application/x-git-upload-pack-advertisement"
        };
        let got = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // The media type only: a server may add parameters ("; charset=…").
        let got = got.split(';').next().unwrap_or("").trim();
        if got != want {
            return Err(io::Error::other(format!(
                "{} is not a git smart-HTTP server (content type {got:?}, expected {want})",
                self.url
            )));
        }
        // A redirect moves the repository for the requests that follow.
        let final_url = resp.url().as_str();
        if final_url != self.url
            && let Some(moved) = final_url.strip_suffix(self.path)
            && let Ok(mut b) = self.base.lock()
        {
            *b = Some(moved.to_string());
        }
        Ok(resp)
    }
}

impl Read for Request {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let response = match self.response {
            Some(ref mut r) => r,
            None => {
                let r = self.send()?;
                self.response.insert(r)
            }
        };
        response.read(buf)
    }
}

impl Write for Request {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.response.is_some() {
            return Err(io::Error::other("request already sent"));
        }
        self.body.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
