//! The prerequisite audit shared by `kinfra doctor` and `kinfra-setup`: git, docker
//! (installed, engine reachable, compose variant and version), uv, and the 1Password
//! CLI. Checks run concurrently, each with a time limit and no stdin, so a hanging
//! tool is reported rather than waited on.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::state::context::Mark;
use crate::state::home::Home;
use crate::support::exec::{Cmd, ExecError};

const LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    /// Present but not fully usable (optional tool missing, op not signed in).
    Warn,
    /// A required tool is missing or unusable.
    Missing,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: String,
    pub status: Status,
    pub required: bool,
    pub version: Option<String>,
    pub path: Option<PathBuf>,
    pub detail: Option<String>,
    /// The exact fix for this OS, when something is wrong.
    pub hint: Option<String>,
    /// A check of kinfra's own state rather than a tool: "ok"/"problem", not
    /// "found"/"missing".
    #[serde(skip)]
    pub state: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    MacOs,
    Debian,
    OtherLinux,
    Other,
}

pub fn detect_os() -> Os {
    if cfg!(target_os = "macos") {
        Os::MacOs
    } else if cfg!(target_os = "linux") {
        if std::path::Path::new("/etc/debian_version").exists() {
            Os::Debian
        } else {
            Os::OtherLinux
        }
    } else {
        Os::Other
    }
}

fn install_hint(tool: &str, os: Os) -> String {
    match (tool, os) {
        ("git", Os::MacOs) => "brew install git (or xcode-select --install)".into(),
        ("git", Os::Debian) => "sudo apt-get install git".into(),
        ("docker", Os::MacOs) => "brew install --cask docker, then start Docker Desktop".into(),
        ("docker", Os::Debian) => "sudo apt-get install docker.io docker-compose (or Docker's own packages: https://docs.docker.com/engine/install/debian/)".into(),
        ("compose", Os::MacOs) => "Docker Desktop includes `docker compose`".into(),
        ("compose", Os::Debian) => "sudo apt-get install docker-compose (or docker-compose-plugin from Docker's repository)".into(),
        ("uv", Os::MacOs) => "brew install uv".into(),
        ("uv", _) => "pipx install uv (or: python3 -m pip install --user uv)".into(),
        ("op", Os::MacOs) => "brew install --cask 1password-cli".into(),
        ("op", Os::Debian) => "install the 1Password CLI: https://developer.1password.com/docs/cli/get-started/#install".into(),
        (t, _) => format!("install {t} with your system's package manager"),
    }
}

/// The fix for an unreachable engine: when `DOCKER_HOST` or a context chose the
/// endpoint, that is what to look at (installing Docker would not help).
fn unreachable_hint(ep: &crate::tools::docker::Endpoint, os: Os) -> String {
    if ep.via != "the default socket" {
        let undo = if ep.via == "DOCKER_HOST" {
            "unset DOCKER_HOST"
        } else {
            "`docker context use default`"
        };
        return format!(
            "{} points to {}: start that engine, or {undo} to use this machine's",
            ep.via,
            if ep.host.is_empty() {
                "an unreadable endpoint"
            } else {
                &ep.host
            }
        );
    }
    match os {
        Os::MacOs => "start Docker Desktop".into(),
        _ => "start the engine (sudo systemctl start docker) and make sure your user may use it (sudo usermod -aG docker $USER)".into(),
    }
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").trim().to_string()
}

/// Pure: the version number in `git version 2.47.3`, `Docker version 28.2.2, build x`,
/// `uv 0.5.1 (…)`, `2.30.0`.
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || c == ',')
        .map(|w| w.trim_start_matches('v'))
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()) && w.contains('.'))
        .map(String::from)
}

fn version_of(program: &str, args: &[&str]) -> Result<(PathBuf, String), ExecError> {
    let path = which::which(program).map_err(|_| ExecError::NotFound {
        program: program.into(),
    })?;
    let out = Cmd::new(&path).args(args).timeout(LIMIT).run()?;
    Ok((path, first_line(&out)))
}

fn tool_check(name: &str, program: &str, args: &[&str], required: bool, os: Os) -> Check {
    match version_of(program, args) {
        Ok((path, line)) => Check {
            name: name.into(),
            status: Status::Ok,
            required,
            version: parse_version(&line).or(Some(line)),
            path: Some(path),
            detail: None,
            hint: None,
            state: false,
        },
        Err(e) => Check {
            name: name.into(),
            status: if required {
                Status::Missing
            } else {
                Status::Warn
            },
            required,
            version: None,
            path: which::which(program).ok(),
            detail: Some(match &e {
                ExecError::NotFound { .. } => "not found on PATH".into(),
                ExecError::TimedOut { secs, .. } => format!("did not answer within {secs} s"),
                other => other.to_string(),
            }),
            hint: Some(install_hint(program, os)),
            state: false,
        },
    }
}

/// The docker client and the engine, from one `docker version` call (it prints the
/// client's version even when the engine does not answer).
fn docker_checks(os: Os) -> Vec<Check> {
    let client = Check {
        name: "docker".into(),
        status: Status::Ok,
        required: true,
        version: None,
        path: which::which("docker").ok(),
        detail: None,
        hint: None,
        state: false,
    };
    let engine = Check {
        name: "docker engine".into(),
        path: None,
        ..client.clone()
    };
    let missing = |c: Check, detail: String, hint: String| Check {
        status: Status::Missing,
        detail: Some(detail),
        hint: Some(hint),
        ..c
    };
    if client.path.is_none() {
        return vec![
            missing(
                client,
                "not found on PATH".into(),
                install_hint("docker", os),
            ),
            missing(
                engine,
                "docker is not installed".into(),
                install_hint("docker", os),
            ),
        ];
    }
    let out = Cmd::new("docker")
        .args([
            "version",
            "--format",
            "{{.Client.Version}}|{{.Server.Version}}",
        ])
        .timeout(LIMIT)
        .output();
    let (stdout, stderr, ok) = match out {
        Ok(o) => (o.stdout, o.stderr, o.status.success()),
        Err(e) => (String::new(), e.to_string(), false),
    };
    let (cv, sv) = stdout.trim().split_once('|').unwrap_or(("", ""));
    let client = if cv.is_empty() {
        missing(
            client,
            format!("`docker version` failed: {}", first_line(&stderr)),
            install_hint("docker", os),
        )
    } else {
        Check {
            version: Some(cv.to_string()),
            ..client
        }
    };
    let engine = if ok && !sv.is_empty() {
        Check {
            version: Some(sv.to_string()),
            ..engine
        }
    } else {
        missing(
            engine,
            format!(
                "the Docker engine is not reachable: {}",
                first_line(&stderr)
            ),
            unreachable_hint(&crate::tools::docker::endpoint(), os),
        )
    };
    vec![client, engine]
}

fn compose_check(os: Os, home: &Home) -> Check {
    match crate::tools::compose::Compose::detect(home) {
        Ok(c) => Check {
            name: "docker compose".into(),
            status: Status::Ok,
            required: true,
            version: Some(c.version.clone()),
            path: None,
            detail: Some(format!(
                "{}{}",
                c.describe(),
                if c.has_v2_features() {
                    ""
                } else {
                    " (v1: kinfra waits with its own gate)"
                }
            )),
            hint: None,
            state: false,
        },
        Err(_) => Check {
            name: "docker compose".into(),
            status: Status::Missing,
            required: true,
            version: None,
            path: None,
            detail: Some("neither `docker compose` nor `docker-compose` works".into()),
            hint: Some(install_hint("compose", os)),
            state: false,
        },
    }
}

fn op_check(os: Os) -> Check {
    let mut c = tool_check("1password cli", "op", &["--version"], false, os);
    if c.status == Status::Ok {
        if let Err(e) = crate::tools::secrets::signed_in() {
            c.status = Status::Warn;
            c.detail = Some(e.to_string());
            // A fix of the tool itself, as for the others: sign in.
            c.hint = Some(
                "sign in to 1Password (`eval $(op signin)`) or set OP_SERVICE_ACCOUNT_TOKEN".into(),
            );
        } else {
            c.detail = Some("signed in".into());
        }
    } else {
        c.detail = Some(format!(
            "{}; without it the stack uses insecure default secrets",
            c.detail.unwrap_or_default()
        ));
    }
    c
}

/// Runs every check concurrently and returns them in a fixed order. Compose's
/// answer is cached in `home` as every command caches it.
pub fn audit(home: &Home) -> Vec<Check> {
    let os = detect_os();
    std::thread::scope(|s| {
        let handles = vec![
            (
                "git",
                s.spawn(move || vec![tool_check("git", "git", &["--version"], true, os)]),
            ),
            ("docker", s.spawn(move || docker_checks(os))),
            ("compose", s.spawn(move || vec![compose_check(os, home)])),
            (
                "uv",
                s.spawn(move || vec![tool_check("uv", "uv", &["--version"], true, os)]),
            ),
            ("op", s.spawn(move || vec![op_check(os)])),
        ];
        join_checks(handles.into_iter().map(|(n, h)| (n, h.join())))
    })
}

/// The checks in order; a check whose thread panicked is a failed, required check
/// (it must never vanish and let the audit pass).
fn join_checks<'a>(
    joined: impl Iterator<Item = (&'a str, std::thread::Result<Vec<Check>>)>,
) -> Vec<Check> {
    joined
        .flat_map(|(name, r)| {
            r.unwrap_or_else(|p| {
                vec![Check {
                    name: name.to_string(),
                    status: Status::Missing,
                    required: true,
                    version: None,
                    path: None,
                    detail: Some(format!(
                        "the check crashed: {}",
                        crate::support::error::panic_message(p.as_ref())
                    )),
                    hint: Some(
                        "this is a bug in kinfra; please report it with `kinfra doctor --json`"
                            .into(),
                    ),
                    state: false,
                }]
            })
        })
        .collect()
}

/// The audit as lines for a person: each check's line (name, state, version, path)
/// with its mark, then its detail and fix lines (no mark). The front end draws the
/// marks.
pub fn render(checks: &[Check]) -> Vec<(Option<Mark>, String)> {
    let version_width = checks
        .iter()
        .filter_map(|c| c.version.as_deref().map(str::len))
        .max()
        .unwrap_or(1)
        .max(10);
    let name_width = checks
        .iter()
        .map(|c| c.name.len())
        .max()
        .unwrap_or(1)
        .max(17);
    let mut lines = Vec::new();
    for c in checks {
        let mark = match c.status {
            Status::Ok => Mark::Ok,
            Status::Warn => Mark::Warn,
            Status::Missing => Mark::Failed,
        };
        let version = c.version.as_deref().unwrap_or("-");
        let path = c
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let what = match c.status {
            // A tool is "found" (with its version); a state check is just "ok".
            Status::Ok if c.version.is_some() => "found",
            Status::Ok => "ok",
            Status::Warn => "warning",
            Status::Missing if c.state => "problem",
            Status::Missing => "missing",
        };
        lines.push((
            Some(mark),
            format!(
                "{:<name_width$} {what:<8} {version:<version_width$} {path}",
                c.name
            )
            .trim_end()
            .to_string(),
        ));
        lines.extend(c.detail.iter().map(|d| (None, format!("      {d}"))));
        lines.extend(c.hint.iter().map(|h| (None, format!("      fix: {h}"))));
    }
    lines
}

/// "ready", or how many problems (required checks failing) and warnings.
pub fn verdict(checks: &[Check]) -> String {
    let problems = checks
        .iter()
        .filter(|c| c.required && c.status != Status::Ok)
        .count();
    let warnings = checks.iter().filter(|c| c.status == Status::Warn).count();
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    match (problems, warnings) {
        (0, 0) => "ready".into(),
        (0, w) => format!("ready ({})", plural(w, "warning")),
        (p, 0) => plural(p, "problem"),
        (p, w) => format!("{}, {}", plural(p, "problem"), plural(w, "warning")),
    }
}

pub fn all_required_ok(checks: &[Check]) -> bool {
    checks.iter().all(|c| !c.required || c.status == Status::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_that_panics_fails_the_audit() {
        let ok = std::thread::spawn(Vec::<Check>::new).join();
        let crashed = std::thread::spawn(|| -> Vec<Check> { panic!("boom") }).join();
        let checks = join_checks([("git", ok), ("docker", crashed)].into_iter());
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].name, "docker");
        assert_eq!(checks[0].status, Status::Missing);
        assert!(checks[0].detail.as_deref().unwrap_or("").contains("boom"));
        assert!(!all_required_ok(&checks));
    }

    #[test]
    fn versions_from_captured_output() {
        assert_eq!(
            parse_version("git version 2.47.3").as_deref(),
            Some("2.47.3")
        );
        assert_eq!(
            parse_version("Docker version 28.2.2, build e6534b4").as_deref(),
            Some("28.2.2")
        );
        assert_eq!(
            parse_version("uv 0.13.9 (x86_64-unknown-linux-gnu)").as_deref(),
            Some("0.13.9")
        );
        assert_eq!(parse_version("2.30.0").as_deref(), Some("2.30.0"));
        assert_eq!(
            parse_version("docker-compose version 1.29.2, build unknown").as_deref(),
            Some("1.29.2")
        );
        assert_eq!(parse_version("no digits"), None);
    }

    #[test]
    fn required_logic() {
        let c = |status, required| Check {
            name: "x".into(),
            status,
            required,
            version: None,
            path: None,
            detail: None,
            hint: None,
            state: false,
        };
        assert!(all_required_ok(&[
            c(Status::Ok, true),
            c(Status::Warn, false)
        ]));
        assert!(!all_required_ok(&[c(Status::Missing, true)]));
    }
}
