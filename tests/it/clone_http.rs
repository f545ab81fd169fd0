//! Cloning over git's smart HTTP (kinfra's own transport on reqwest) against real
//! `git http-backend`: plain http, a redirect, errors that name the cause, and a
//! whole `kinfra-setup` over https with a throwaway CA.

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::docker_env;
use crate::harness::{Env, git, staging_leftovers};

/// `tests/it/git_http.py` serving the directory of a bare repository; killed on drop.
struct Server {
    child: Child,
    port: u16,
    /// The repository's directory name, its path on the server.
    name: String,
}

impl Server {
    fn start(repo: &Path, tls_dir: Option<&Path>) -> Server {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/git_http.py");
        let root = repo.parent().expect("parent");
        let name = repo
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut cmd = Command::new("python3");
        cmd.arg(script).arg(root);
        if let Some(d) = tls_dir {
            cmd.arg("--tls").arg(d);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start git_http.py");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read port");
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("git_http.py printed {line:?}, not a port"));
        Server { child, port, name }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://127.0.0.1:{}/{path}", self.port)
    }

    fn repo_url(&self, scheme: &str) -> String {
        self.url(scheme, &self.name)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clone(url: &str, dest: &Path) -> (Result<(), String>, usize) {
    let mut objects = 0;
    let r = kinfra::setup::clone::clone(url, None, dest, |t| objects = t.total_objects)
        .map_err(|e| e.to_string());
    (r, objects)
}

fn origin_of(dir: &Path) -> String {
    git(dir, &["remote", "get-url", "origin"])
        .trim()
        .to_string()
}

#[test]
fn clones_over_http_follow_redirects_and_name_what_failed() {
    let mut env = Env::new();
    let origin = env.origin();
    let server = Server::start(&origin, None);
    let name = server.name.clone();

    // Plain http: every file of the origin's HEAD, the URL as origin, progress seen.
    let url = server.repo_url("http");
    let dest = env.work.join("over-http");
    let (r, objects) = clone(&url, &dest);
    r.unwrap_or_else(|e| panic!("clone {url}: {e}"));
    assert!(objects > 0, "transfer progress was reported");
    assert!(dest.join("docker-compose.sandbox.yml").is_file());
    assert_eq!(origin_of(&dest), url);
    assert_eq!(
        git(&dest, &["rev-parse", "HEAD"]),
        git(&origin, &["rev-parse", "HEAD"])
    );

    // A redirect: the pack request goes to where the server moved the repository.
    let moved = server.url("http", &format!("moved/{name}"));
    let dest = env.work.join("moved");
    let (r, _) = clone(&moved, &dest);
    r.unwrap_or_else(|e| panic!("clone {moved}: {e}"));
    assert!(dest.join("docker-compose.sandbox.yml").is_file());

    // Failures name the URL and the cause, and leave no directory behind.
    let cases: [(String, &str); 4] = [
        (server.url("http", "nope.git"), "no repository at this URL"),
        (
            server.url("http", &format!("plain/{name}")),
            "is not a git smart-HTTP server",
        ),
        // Nothing listens on port 9 (discard) here: connection refused.
        (
            "http://127.0.0.1:9/x.git".to_string(),
            "http://127.0.0.1:9/x.git",
        ),
        (
            "http://127.0.0.1:9/y.git".to_string(),
            "the network or the server is unreachable",
        ),
    ];
    for (i, (url, want)) in cases.iter().enumerate() {
        let dest = env.work.join(format!("failed-{i}"));
        let (r, _) = clone(url, &dest);
        let e = r.expect_err("clone should fail");
        assert!(e.contains(want), "{url}: {e:?} lacks {want:?}");
        assert!(!dest.exists(), "{url} left {}", dest.display());
    }
    let partial = staging_leftovers(&env.work);
    assert!(partial.is_empty(), "{partial:?}");
}

#[test]
fn setup_clones_over_https_and_verifies_the_certificate() {
    let mut env = docker_env!();
    let origin = env.origin();
    let tls = env.base().join("tls");
    let server = Server::start(&origin, Some(&tls));
    let url = server.repo_url("https");

    let setup = |dest: &Path, env_vars: &[(&str, &str)]| {
        let dest_s = format!("--path={}", dest.display());
        let args = [
            "--non-interactive",
            "--repo-url",
            &url,
            &dest_s,
            "--skip-shared",
        ];
        env.setup(&env.work, &args, env_vars)
    };

    // A certificate from an unknown CA is refused, naming the cause.
    let dest = env.work.join("untrusted");
    setup(&dest, &[])
        .code(1)
        .stderr_has(&format!("cloning {url} failed"))
        .stderr_has("certificate");
    assert!(!dest.exists());

    // Trusting the test CA (SSL_CERT_FILE, as with git and curl), setup goes through.
    let ca = tls.join("ca.pem").display().to_string();
    let dest = env.work.join("ktrdr-prod");
    setup(&dest, &[("SSL_CERT_FILE", &ca)])
        .success()
        .stderr_has(&format!("cloned {url}"))
        .stderr_has("uv sync done")
        .stderr_has("initialized local-prod ktrdr-prod");
    assert_eq!(origin_of(&dest), url);
    assert!(dest.join(".venv").is_dir() && dest.join(".env.sandbox").is_file());
    assert_eq!(
        env.registry()["local_prod"]["path"],
        dest.display().to_string()
    );
}
