//! An instance's `.env.sandbox` as kinfra means it: the slot, the instance's name,
//! the stack's port keys with their values, built for a new instance or read back and
//! checked against the stack's description (the file format is [`crate::state::envfile`]).

use std::collections::BTreeMap;
use std::path::Path;

use crate::stack::{Kind, Stack};
use crate::state::envfile::{EnvFileError, FILE_NAME, LoadError, parse, render, shared_dir_key};

/// The validated contents of an instance's `.env.sandbox`.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxEnv {
    pub slot: u8,
    pub instance_id: String,
    /// Port keys of the stack with their values.
    pub ports: Vec<(String, u16)>,
    /// Every key of the file, as written.
    pub vars: BTreeMap<String, String>,
}

impl SandboxEnv {
    /// Writes the file atomically (no secrets in it; readable by the user's tools).
    pub fn write(&self, path: &Path) -> crate::instance::error::Result<()> {
        crate::state::envfile::write(path, &self.vars, Some(0o644))?;
        // For a project that does not ignore it itself (KTRDR's .gitignore does). A
        // failure only shows the file in `git status`: destroy's lost-work check skips it.
        if let Some(dir) = path.parent() {
            let _ = crate::tools::git::exclude_locally(dir, &format!("/{FILE_NAME}"));
        }
        Ok(())
    }

    /// Builds the file's contents for a new instance.
    pub fn new(stack: &Stack, slot: u8, instance_id: &str, shared_dir: &Path, now: &str) -> Self {
        let mut vars = BTreeMap::new();
        let ports: Vec<(String, u16)> = crate::stack::ports::for_slot(stack, slot)
            .into_iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect();
        for (k, p) in &ports {
            vars.insert(k.clone(), p.to_string());
        }
        let shared = shared_dir.display().to_string();
        vars.insert("SLOT_NUMBER".into(), slot.to_string());
        vars.insert("INSTANCE_ID".into(), instance_id.into());
        vars.insert("COMPOSE_PROJECT_NAME".into(), instance_id.into());
        // <PREFIX>_SHARED_DIR, and <PREFIX>_<SUB>_DIR for each shared directory
        // (KTRDR_DATA_DIR, KTRDR_MODELS_DIR, KTRDR_STRATEGIES_DIR for KTRDR).
        let prefix = &stack.env_prefix;
        vars.insert(format!("{prefix}_SHARED_DIR"), shared.clone());
        for sub in &stack.shared_subdirs {
            vars.insert(
                shared_dir_key(prefix, sub),
                shared_dir.join(sub).display().to_string(),
            );
        }
        // The description's literal variables (`[env]`, `[sandbox.env]`, …): tools
        // in the repository read this file, and compose gets them from kinfra.
        for (k, v) in stack.env_for(Kind::of_slot(slot)) {
            vars.insert(k, v);
        }
        vars.insert("CREATED_AT".into(), now.into());
        vars.insert("SANDBOX_VERSION".into(), "1".into());
        SandboxEnv {
            slot,
            instance_id: instance_id.into(),
            ports,
            vars,
        }
    }

    /// Validates a parsed file against the stack: slot, id and every port key the
    /// slot needs, each a number in 1..=65535.
    pub fn from_map(stack: &Stack, vars: BTreeMap<String, String>) -> Result<Self, EnvFileError> {
        Self::from_map_using(stack, vars, None, false)
    }

    /// [`SandboxEnv::from_map`], where a port key missing from the file is fine when
    /// `used` (the variables the compose file reads) shows nothing needs it: a
    /// description that moved on is not a corrupt file. Keys the description does not
    /// know are kept as they are.
    pub fn from_map_using(
        stack: &Stack,
        vars: BTreeMap<String, String>,
        used: Option<&std::collections::BTreeSet<String>>,
        fill: bool,
    ) -> Result<Self, EnvFileError> {
        let get = |key: &str| {
            vars.get(key)
                .map(|v| v.trim().to_string())
                .ok_or(EnvFileError::Missing { key: key.into() })
        };
        let slot_s = get("SLOT_NUMBER")?;
        let slot: u8 = slot_s
            .parse()
            .ok()
            .filter(|s| *s <= stack.max_slot)
            .ok_or_else(|| EnvFileError::BadValue {
                key: "SLOT_NUMBER".into(),
                value: slot_s.clone(),
                expected: format!("a slot number from 0 to {}", stack.max_slot),
            })?;
        let instance_id = get("INSTANCE_ID")?;
        // It names the compose project, lock files and kinfra's records: a path or
        // an option in it would reach outside the instance.
        if crate::support::validate::project_name(&instance_id).is_err() {
            return Err(EnvFileError::BadValue {
                key: "INSTANCE_ID".into(),
                value: instance_id,
                expected: "a compose project name (a-z, 0-9, - and _)".into(),
            });
        }
        let mut ports = Vec::new();
        let auto = vars
            .keys()
            .filter(|k| stack.auto_ports && k.starts_with(crate::tools::model::PORT_PREFIX))
            .map(String::as_str);
        let keys: Vec<&str> = crate::stack::ports::for_slot(stack, slot)
            .into_iter()
            .map(|(k, _)| k)
            .chain(auto)
            .collect();
        for key in keys {
            // A shared service's port is the description's, whatever the file says
            // (or whether it says it at all).
            if let Some(r) = stack.ports.iter().find(|r| r.fixed && r.key == key) {
                ports.push((key.to_string(), r.slot0));
                continue;
            }
            if !vars.contains_key(key) && used.is_some_and(|u| !u.contains(key)) {
                continue;
            }
            // `fill`: the description changed since the file was written, so a key it
            // lacks is new: the slot's value, as `create` would write it now (`up`
            // and `sync` add it to the file). Otherwise a missing key is an edit.
            if fill
                && !vars.contains_key(key)
                && let Some((_, p)) = crate::stack::ports::for_slot(stack, slot)
                    .into_iter()
                    .find(|(k, _)| *k == key)
            {
                ports.push((key.to_string(), p));
                continue;
            }
            let v = get(key)?;
            let p: u16 =
                v.parse()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| EnvFileError::BadValue {
                        key: key.into(),
                        value: v.clone(),
                        expected: "a port number from 1 to 65535".into(),
                    })?;
            ports.push((key.to_string(), p));
        }
        Ok(SandboxEnv {
            slot,
            instance_id,
            ports,
            vars,
        })
    }

    pub fn port(&self, key: &str) -> Option<u16> {
        self.ports.iter().find(|(k, _)| k == key).map(|(_, p)| *p)
    }

    /// The file's text; refused (naming the key) when a value would not read back.
    pub fn render(&self) -> Result<String, EnvFileError> {
        render(&self.vars)
    }

    /// What goes from the file into compose's environment (and `kinfra env`):
    /// kinfra's own keys, the description's literal variables and the port keys,
    /// nothing else. The file can be edited by
    /// anyone; a `DOCKER_HOST` or `PATH` line in it must not steer compose. The
    /// project name is the instance's, and the shared directories are where
    /// kinfra keeps them (`shared_dir`), whatever the file says.
    pub fn compose_vars(&self, stack: &Stack, shared_dir: &Path) -> Vec<(String, String)> {
        let own = SandboxEnv::new(stack, self.slot, &self.instance_id, shared_dir, "");
        let mut out: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &own.vars {
            if stack.ports.iter().any(|p| &p.key == k) {
                continue; // the file's validated ports, below
            }
            let v = match k.as_str() {
                "CREATED_AT" | "SANDBOX_VERSION" => match self.vars.get(k) {
                    Some(v) => v.clone(),
                    None => continue,
                },
                _ => v.clone(),
            };
            out.insert(k.clone(), v);
        }
        for (k, p) in &self.ports {
            out.insert(k.clone(), p.to_string());
        }
        out.into_iter().collect()
    }
}

/// Reads and validates `dir/.env.sandbox`.
pub fn load(stack: &Stack, dir: &Path) -> Result<SandboxEnv, LoadError> {
    load_with(stack, dir, false)
}

/// [`load`] for an instance whose description changed since its file was written:
/// port keys the file lacks take the slot's values.
pub fn load_filling(stack: &Stack, dir: &Path) -> Result<SandboxEnv, LoadError> {
    load_with(stack, dir, true)
}

fn load_with(stack: &Stack, dir: &Path, fill: bool) -> Result<SandboxEnv, LoadError> {
    let path = dir.join(FILE_NAME);
    let text = std::fs::read_to_string(&path).map_err(|source| LoadError::Io {
        path: path.clone(),
        source,
    })?;
    // What the instance's compose file reads (a plain read, no `compose config`).
    let used = stack
        .compose_text_in(dir)
        .ok()
        .map(|t| crate::tools::compose::variables(&t));
    parse(&text)
        .and_then(|m| SandboxEnv::from_map_using(stack, m, used.as_ref(), fill))
        .map_err(|source| LoadError::Invalid { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KTRDR;

    #[test]
    fn round_trip_is_sorted_and_validates() {
        let env = SandboxEnv::new(
            &KTRDR,
            3,
            "ktrdr--x",
            Path::new("/h/.ktrdr/shared"),
            "2026-01-01T00:00:00Z",
        );
        let text = env.render().unwrap();
        let keys: Vec<&str> = text.lines().map(|l| l.split('=').next().unwrap()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert!(text.contains("KTRDR_API_PORT=8003\n"));
        assert!(text.contains("KTRDR_DATA_DIR=/h/.ktrdr/shared/data\n"));
        assert!(text.contains("SANDBOX_VERSION=1\n"));
        assert!(text.contains("COMPOSE_PROJECT_NAME=ktrdr--x\n"));
        let back = SandboxEnv::from_map(&KTRDR, parse(&text).unwrap()).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn validation_names_the_key() {
        let env = SandboxEnv::new(&KTRDR, 1, "a", Path::new("/s"), "t");
        let mut m = env.vars.clone();
        m.insert("KTRDR_API_PORT".into(), "80x".into());
        let e = SandboxEnv::from_map(&KTRDR, m).unwrap_err();
        assert!(e.to_string().contains("KTRDR_API_PORT"), "{e}");
        let mut m = env.vars.clone();
        m.remove("KTRDR_DB_PORT");
        assert_eq!(
            SandboxEnv::from_map(&KTRDR, m).unwrap_err(),
            EnvFileError::Missing {
                key: "KTRDR_DB_PORT".into()
            }
        );
        // Missing, but the compose file does not read it: not corruption.
        let mut m = env.vars.clone();
        m.remove("KTRDR_DB_PORT");
        m.insert("OLD_KEY".into(), "kept".into());
        let used: std::collections::BTreeSet<String> = ["KTRDR_API_PORT".to_string()].into();
        let e = SandboxEnv::from_map_using(&KTRDR, m.clone(), Some(&used), false).unwrap();
        assert_eq!(e.port("KTRDR_DB_PORT"), None);
        assert_eq!(e.vars["OLD_KEY"], "kept");
        let used: std::collections::BTreeSet<String> = ["KTRDR_DB_PORT".to_string()].into();
        assert!(
            SandboxEnv::from_map_using(&KTRDR, m, Some(&used), false).is_err(),
            "read, and missing"
        );
        let mut m = env.vars.clone();
        m.insert("SLOT_NUMBER".into(), "11".into());
        assert!(SandboxEnv::from_map(&KTRDR, m).is_err());
        let mut m = env.vars;
        m.insert("KTRDR_API_PORT".into(), "70000".into());
        assert!(SandboxEnv::from_map(&KTRDR, m).is_err());
    }
}
