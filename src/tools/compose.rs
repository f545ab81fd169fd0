//! Docker Compose, in either shape: the `docker compose` plugin or the standalone
//! `docker-compose`. Chosen once per process; the choice is reported.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use crate::state::home::Home;
use crate::support::env_vars::EnvVars;
use crate::support::error::SupportError;
use crate::support::exec::Cmd;
use crate::tools::error::{Result, ToolsError};

pub mod dotenv;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `docker compose …`
    Plugin,
    /// `docker-compose …`
    Standalone,
}

/// The compose file names tried, in compose's own order, when none is given.
pub const FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

#[derive(Debug, Clone)]
pub struct Compose {
    pub variant: Variant,
    pub version: String,
}

impl Compose {
    /// Detects the compose tool, cached for the process and in `home` until the
    /// tools change. `KINFRA_COMPOSE=plugin|standalone` forces one.
    pub fn detect(home: &Home) -> Result<Compose> {
        if let Ok(v) = std::env::var(EnvVars::KINFRA_COMPOSE)
            && !["", "plugin", "standalone"].contains(&v.as_str())
        {
            // The same refusal as `env_vars::check`'s, for callers that did not run it.
            return Err(SupportError::BadVariable {
                name: EnvVars::KINFRA_COMPOSE,
                value: v,
                why: " is not a compose variant: use `plugin` (docker compose) or `standalone` (docker-compose), or unset it".into(),
            }
            .into());
        }
        static CACHE: OnceLock<std::result::Result<Compose, String>> = OnceLock::new();
        CACHE
            .get_or_init(|| detect_cached(home).ok_or_else(|| "none".to_string()))
            .clone()
            .map_err(|_| ToolsError::NoCompose)
    }

    /// "docker compose 2.24.1" / "docker-compose 1.29.2"
    pub fn describe(&self) -> String {
        match self.variant {
            Variant::Plugin => format!("docker compose {}", self.version),
            Variant::Standalone => format!("docker-compose {}", self.version),
        }
    }

    fn major(&self) -> u32 {
        self.version
            .trim_start_matches('v')
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }

    /// Compose v2 (plugin or standalone) knows `ps --format json` and `up --wait`.
    pub fn has_v2_features(&self) -> bool {
        self.major() >= 2
    }

    /// A compose command for one project.
    pub fn cmd(&self, project: &Project) -> Cmd {
        let base = match self.variant {
            Variant::Plugin => Cmd::new("docker").arg("compose"),
            Variant::Standalone => Cmd::new("docker-compose"),
        };
        let mut c = base.arg("-p").arg(&project.name);
        for f in &project.files {
            c = c.arg("-f").arg(f);
        }
        c = c.arg("--project-directory").arg(&project.dir);
        for p in &project.profiles {
            c = c.arg("--profile").arg(p);
        }
        // As a plain `docker compose up` in the instance's own directory: `${PWD}`
        // (and relative paths compose resolves itself) are the instance's, never
        // those of wherever kinfra was started.
        c.current_dir(&project.dir)
            .env("PWD", &project.dir)
            .envs(project.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

/// A variable compose itself honours (`COMPOSE_PROFILES`, `COMPOSE_FILE`,
/// `COMPOSE_PATH_SEPARATOR`): the environment's value, else the line in the project
/// directory's `.env`, interpolated as compose reads it ([`dotenv::resolve`]). The
/// one place kinfra reads compose's own variables, so none is taken literally.
pub fn setting(dir: &Path, name: &str) -> Option<String> {
    if let Some(v) = crate::support::env_vars::get(name) {
        return Some(v);
    }
    let text = std::fs::read_to_string(dir.join(".env")).ok()?;
    dotenv::resolve(&text, &|k| std::env::var(k).ok())
        .remove(name)
        .filter(|v| !v.is_empty())
}

/// Pure: `name`'s value in a `.env` text as compose reads it, with no process
/// environment ([`dotenv::resolve`]: quotes, `export`, comments, interpolation
/// from the lines above; the last line wins).
pub fn dotenv_value(text: &str, name: &str) -> Option<String> {
    dotenv::resolve(text, &|_| None).remove(name)
}

/// The profiles `COMPOSE_PROFILES` switches on for a project in `dir` (from the
/// environment or its `.env`), names that are no profile left out.
pub fn env_profiles(dir: &Path) -> Vec<String> {
    setting(dir, "COMPOSE_PROFILES")
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|p| crate::support::validate::profile(p).is_ok())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// `base` with `more` added, each once, in order.
pub fn merge_profiles(mut base: Vec<String>, more: Vec<String>) -> Vec<String> {
    for p in more {
        if !base.contains(&p) {
            base.push(p);
        }
    }
    base
}

/// Where the docker CLI looks for plugins: the config's `cliPluginsExtraDirs`, the
/// user's `cli-plugins`, then the system directories of Linux, Homebrew and Docker
/// Desktop for Mac.
pub fn plugin_dirs() -> Vec<PathBuf> {
    plugin_dirs_under(crate::tools::docker::config_dir().as_deref())
}

fn plugin_dirs_under(config: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(config) = config {
        let extra = std::fs::read(config.join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| v.get("cliPluginsExtraDirs").cloned());
        if let Some(serde_json::Value::Array(list)) = extra {
            dirs.extend(list.iter().filter_map(|d| d.as_str()).map(PathBuf::from));
        }
        dirs.push(config.join("cli-plugins"));
    }
    for d in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
        "/opt/homebrew/lib/docker/cli-plugins",
        "/Applications/Docker.app/Contents/Resources/cli-plugins",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs
}

/// What detection depends on: the tools' paths, sizes and modification times (and
/// the plugin directories'), plus `KINFRA_COMPOSE`. Same fingerprint, same answer.
fn fingerprint() -> String {
    let mut paths: Vec<std::path::PathBuf> = ["docker", "docker-compose"]
        .iter()
        .filter_map(|t| which::which(t).ok())
        .collect();
    for d in plugin_dirs() {
        paths.push(d.join("docker-compose"));
    }
    let mut fp = format!("v1 {:?}", std::env::var(EnvVars::KINFRA_COMPOSE).ok());
    for p in paths {
        let meta = std::fs::metadata(&p).ok();
        let stamp = meta
            .as_ref()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        fp.push_str(&format!(
            " {}:{}:{}",
            p.display(),
            meta.map(|m| m.len()).unwrap_or(0),
            stamp
        ));
    }
    fp
}

/// Detection costs a `docker-compose version` (half a second for the Python v1), so
/// its answer is kept under kinfra home until the tools change.
fn detect_cached(home: &Home) -> Option<Compose> {
    let fp = fingerprint();
    let file = Some(home.compose_cache_file());
    if let Some(text) = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok()) {
        let mut lines = text.lines();
        if lines.next() == Some(fp.as_str()) {
            let variant = match lines.next() {
                Some("plugin") => Some(Variant::Plugin),
                Some("standalone") => Some(Variant::Standalone),
                _ => None,
            };
            if let (Some(variant), Some(version)) = (variant, lines.next()) {
                return Some(Compose {
                    variant,
                    version: version.to_string(),
                });
            }
        }
    }
    let found = detect_uncached()?;
    if let Some(f) = file {
        let kind = match found.variant {
            Variant::Plugin => "plugin",
            Variant::Standalone => "standalone",
        };
        if let Some(dir) = f.parent()
            && std::fs::create_dir_all(dir).is_ok()
        {
            // A cache: a failed write only means asking the tools again next time.
            let _ = crate::support::fsutil::write_atomic(
                &f,
                format!("{fp}\n{kind}\n{}\n", found.version).as_bytes(),
                None,
            );
        }
    }
    Some(found)
}

impl Compose {
    /// Asks the tools themselves, without the cache under kinfra home (the audit,
    /// which reports what is installed now, and tests).
    pub fn probe() -> Option<Compose> {
        detect_uncached()
    }
}

fn detect_uncached() -> Option<Compose> {
    let forced = std::env::var(EnvVars::KINFRA_COMPOSE).ok();
    let probe = |variant, cmd: Cmd| {
        cmd.timeout(Duration::from_secs(20))
            .run()
            .ok()
            .map(|v| Compose {
                variant,
                version: v.trim().to_string(),
            })
    };
    let try_plugin = || {
        probe(
            Variant::Plugin,
            Cmd::new("docker").args(["compose", "version", "--short"]),
        )
    };
    let try_standalone = || {
        probe(
            Variant::Standalone,
            Cmd::new("docker-compose").args(["version", "--short"]),
        )
    };
    match forced.as_deref() {
        Some("plugin") => try_plugin(),
        Some("standalone") => try_standalone(),
        _ => try_plugin().or_else(try_standalone),
    }
}

/// Everything compose needs to address one instance.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The compose files, in order (compose merges them).
    pub files: Vec<PathBuf>,
    pub dir: PathBuf,
    pub profiles: Vec<String>,
    /// Environment for interpolation: .env.sandbox values, then secrets.
    pub env: Vec<(String, String)>,
}

impl Project {
    /// The first compose file (named in messages).
    pub fn file(&self) -> &Path {
        self.files.first().map_or(Path::new(""), PathBuf::as_path)
    }

    pub fn new(name: &str, file: &Path, dir: &Path) -> Self {
        Project {
            name: name.into(),
            files: vec![file.into()],
            dir: dir.into(),
            profiles: Vec::new(),
            env: Vec::new(),
        }
    }
}

/// Pure: the variables a compose file reads (`${NAME}`, `${NAME:-default}`,
/// `$NAME`), outside comments; whole names only, so `KEY_1` is not found inside
/// `${KEY_10}`.
pub fn variables(text: &str) -> std::collections::BTreeSet<String> {
    variable_refs(text).into_iter().map(|(v, _)| v).collect()
}

/// Pure: every `$NAME` / `${NAME…}` read outside comments, in order, with whether it
/// has a default (`${X:-d}`, `${X-d}`). `$$` is a literal dollar.
pub fn variable_refs(text: &str) -> Vec<(String, bool)> {
    let mut out: Vec<(String, bool)> = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        let b = line.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] != b'$' {
                i += 1;
                continue;
            }
            if b.get(i + 1) == Some(&b'$') {
                i += 2;
                continue;
            }
            let braced = b.get(i + 1) == Some(&b'{');
            let start = if braced { i + 2 } else { i + 1 };
            let mut end = start;
            while end < b.len()
                && (b[end].is_ascii_alphanumeric() || b[end] == b'_')
                && !(end == start && b[end].is_ascii_digit())
            {
                end += 1;
            }
            if end > start {
                let default =
                    braced && (line[end..].starts_with(":-") || line[end..].starts_with('-'));
                out.push((line[start..end].to_string(), default));
            }
            i = end.max(i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_values_are_read_as_compose_reads_them() {
        let text = "# c\nexport COMPOSE_FILE=\"a.yml;b.yml\"\nCOMPOSE_PROFILES=web, worker # comment\nX='q'\nCOMPOSE_PROFILES=last\n";
        assert_eq!(
            dotenv_value(text, "COMPOSE_FILE").as_deref(),
            Some("a.yml;b.yml")
        );
        assert_eq!(
            dotenv_value(text, "COMPOSE_PROFILES").as_deref(),
            Some("last")
        );
        assert_eq!(dotenv_value(text, "X").as_deref(), Some("q"));
        assert_eq!(dotenv_value(text, "NOPE"), None);
        assert_eq!(
            merge_profiles(vec!["a".into()], vec!["b".into(), "a".into()]),
            ["a", "b"]
        );
    }

    #[test]
    fn variables_are_whole_names_outside_comments() {
        let text = "x: ${A_1:-1}\ny: $B\nz: \"$$NOT\"\n# ${COMMENTED}\nw: ${A_10}/$C_2x ${9}\n";
        let v: Vec<String> = variables(text).into_iter().collect();
        assert_eq!(v, ["A_1", "A_10", "B", "C_2x"]);
    }

    #[test]
    fn plugin_dirs_follow_the_docker_config_and_every_platform() {
        let cfg = tempfile::tempdir().unwrap();
        std::fs::write(
            cfg.path().join("config.json"),
            r#"{"cliPluginsExtraDirs":["/opt/extra/plugins"],"currentContext":"desktop-linux"}"#,
        )
        .unwrap();
        let dirs = plugin_dirs_under(Some(cfg.path()));
        assert_eq!(dirs[0], PathBuf::from("/opt/extra/plugins"));
        assert_eq!(dirs[1], cfg.path().join("cli-plugins"));
        for d in [
            "/usr/local/lib/docker/cli-plugins",
            "/opt/homebrew/lib/docker/cli-plugins",
            "/Applications/Docker.app/Contents/Resources/cli-plugins",
        ] {
            assert!(dirs.contains(&PathBuf::from(d)), "{d}");
        }
        // No config: the system directories still count.
        assert!(plugin_dirs_under(None).len() >= 6);
    }

    #[test]
    fn version_features() {
        let c = |v: &str| Compose {
            variant: Variant::Standalone,
            version: v.into(),
        };
        assert!(!c("1.29.2").has_v2_features());
        assert!(c("2.24.6").has_v2_features());
        assert!(c("v2.1.0").has_v2_features());
    }
}
