//! Claude Code's worktree hooks: `WorktreeCreate` makes a kinfra sandbox (worktree,
//! slot, ports) instead of a bare worktree, `WorktreeRemove` destroys it — under
//! destroy's rules, so uncommitted work and commits on no branch are refused, never lost. The hook
//! sends one JSON object on stdin; builds have spelled its fields differently, so
//! every known alias is read. `install` merges the two hook entries into
//! `.claude/settings.local.json`, leaving everything else in it as it was.

use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::agents::error::{AgentsError, NotOurs, Result};
use crate::instance::{self, CreateOptions, DestroyOptions, Destroyed};
use crate::stack::Stack;
use crate::state::context::Context;

/// What a hook payload says, whatever the build spelled it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    pub name: Option<String>,
    pub base: Option<String>,
    pub cwd: Option<PathBuf>,
    pub worktree_path: Option<PathBuf>,
}

/// Reads exactly one JSON object: returns as soon as it is complete, without
/// waiting for the end of input (the caller may keep the pipe open).
pub fn read_one(r: impl Read) -> Result<Value> {
    let mut it = serde_json::Deserializer::from_reader(r).into_iter::<Value>();
    match it.next() {
        Some(Ok(v)) if v.is_object() => Ok(v),
        Some(Ok(v)) => Err(AgentsError::HookInputNotObject {
            value: v.to_string(),
        }),
        Some(Err(source)) => Err(AgentsError::HookInputNotJson { source }),
        None => Err(AgentsError::HookInputEmpty),
    }
}

/// Pure: the fields, from any of their spellings (`worktree_name`/`name`,
/// `base_commit`/`base_ref`, `cwd`, `worktree_path`/`path`).
pub fn parse(v: &Value) -> Payload {
    let s = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .filter(|s| !s.trim().is_empty())
            .map(String::from)
    };
    Payload {
        name: s(&["worktree_name", "name"]),
        base: s(&["base_commit", "base_ref"]),
        cwd: s(&["cwd"]).map(PathBuf::from),
        worktree_path: s(&["worktree_path", "path"]).map(PathBuf::from),
    }
}

fn ctx_at(ctx: &Context, p: &Payload) -> Context {
    match &p.cwd {
        Some(c) => ctx.with_cwd(c),
        None => ctx.clone(),
    }
}

/// `WorktreeCreate`: a sandbox named after the worktree; returns its path (the one
/// thing the hook prints on stdout).
pub fn worktree_create(ctx: &Context, stack: &Stack, p: &Payload) -> Result<PathBuf> {
    let name = p.name.clone().ok_or(AgentsError::HookInputLacks {
        field: "worktree name (`name` or `worktree_name`)",
    })?;
    let inst = instance::create(
        &ctx_at(ctx, p),
        stack,
        &CreateOptions {
            name,
            branch: None,
            base: p.base.clone(),
            slot: None,
            ..Default::default()
        },
    )?;
    Ok(inst.dir)
}

/// `WorktreeRemove`: destroys the sandbox registered at the worktree's path —
/// only a git worktree kinfra created and registered. Anything else (a path kinfra
/// does not know, a registered main clone, local-prod, a worktree someone else
/// made) is refused with exit 5 and left exactly as it is: the hook is called with
/// whatever path the payload names, and deleting is never the safe guess.
pub fn worktree_remove(ctx: &Context, stack: &Stack, p: &Payload) -> Result<Destroyed> {
    let path = p.worktree_path.clone().ok_or(AgentsError::HookInputLacks {
        field: "`worktree_path`",
    })?;
    let reg = ctx.registry().load()?;
    let refuse = |why: NotOurs| AgentsError::NotKinfraWorktree {
        path: path.clone(),
        why,
    };
    if reg
        .local_prod
        .as_ref()
        .is_some_and(|e| crate::support::fsutil::same_path(Path::new(&e.path), &path))
    {
        return Err(refuse(NotOurs::LocalProd));
    }
    let Some(entry) = reg
        .instances
        .values()
        .find(|e| crate::support::fsutil::same_path(Path::new(&e.path), &path))
    else {
        return Err(refuse(NotOurs::Unregistered));
    };
    let created = reg
        .kinfra
        .created_worktrees
        .iter()
        .any(|c| crate::support::fsutil::same_path(Path::new(c), &path));
    if !entry.is_worktree || !created || !path.join(".git").is_file() {
        return Err(refuse(NotOurs::NotCreated {
            id: entry.instance_id.clone(),
        }));
    }
    Ok(instance::destroy(
        &ctx_at(ctx, p),
        stack,
        &DestroyOptions {
            name: Some(entry.instance_id.clone()),
            keep_worktree: false,
            force: false,
        },
    )?)
}

/// The hook entries `install` adds, by event.
pub fn entries(program: &str) -> Vec<(&'static str, String)> {
    vec![
        ("WorktreeCreate", format!("{program} hook worktree-create")),
        ("WorktreeRemove", format!("{program} hook worktree-remove")),
    ]
}

/// Pure: `settings` with kinfra's hook commands added where missing. Returns whether
/// anything changed. Other hooks, keys and their order are kept.
pub fn merge(settings: &mut Value, program: &str) -> Result<bool> {
    let obj = settings.as_object_mut().ok_or(AgentsError::BadSettings {
        what: "the settings file".into(),
        expected: "a JSON object",
    })?;
    let hooks = obj.entry("hooks").or_insert_with(|| json!({}));
    let hooks = hooks.as_object_mut().ok_or(AgentsError::BadSettings {
        what: "`hooks` in the settings file".into(),
        expected: "an object",
    })?;
    let mut changed = false;
    for (event, command) in entries(program) {
        let list = hooks.entry(event).or_insert_with(|| json!([]));
        let list = list
            .as_array_mut()
            .ok_or_else(|| AgentsError::BadSettings {
                what: format!("`hooks.{event}` in the settings file"),
                expected: "a list",
            })?;
        let present = list.iter().any(|group| {
            group["hooks"]
                .as_array()
                .is_some_and(|hs| hs.iter().any(|h| h["command"] == json!(command)))
        });
        if !present {
            list.push(json!({"hooks": [{"type": "command", "command": command}]}));
            changed = true;
        }
    }
    Ok(changed)
}

/// Adds the hooks to `<repo>/.claude/settings.local.json` (made if missing). A file
/// that does not parse is reported and left untouched.
pub fn install(dir: &Path, program: &str) -> Result<(PathBuf, bool)> {
    let path = dir.join(".claude").join("settings.local.json");
    let mut settings = match std::fs::read_to_string(&path) {
        Ok(text) => {
            serde_json::from_str::<Value>(&text).map_err(|source| AgentsError::SettingsNotJson {
                path: path.clone(),
                source,
            })?
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(AgentsError::io("could not read", &path, e)),
    };
    let changed = merge(&mut settings, program)?;
    if changed {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| AgentsError::io("could not create", parent, e))?;
        }
        let mut text = serde_json::to_string_pretty(&settings)
            .map_err(|source| AgentsError::SettingsUnencodable { source })?;
        text.push('\n');
        crate::support::fsutil::write_atomic(&path, text.as_bytes(), Some(0o644))
            .map_err(|e| AgentsError::io("could not write", &path, e))?;
    }
    Ok((path, changed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_of_the_fields_is_read() {
        let a = parse(
            &json!({"session_id": "s", "hook_event_name": "WorktreeCreate", "cwd": "/r", "name": "feat"}),
        );
        assert_eq!(a.name.as_deref(), Some("feat"));
        assert_eq!(a.cwd.as_deref(), Some(Path::new("/r")));
        let b = parse(&json!({"worktree_name": "feat-2", "base_commit": "abc123"}));
        assert_eq!(
            (b.name.as_deref(), b.base.as_deref()),
            (Some("feat-2"), Some("abc123"))
        );
        let c = parse(&json!({"name": "x", "base_ref": "main"}));
        assert_eq!(c.base.as_deref(), Some("main"));
        let d =
            parse(&json!({"hook_event_name": "WorktreeRemove", "worktree_path": "/w/ktrdr--x"}));
        assert_eq!(d.worktree_path.as_deref(), Some(Path::new("/w/ktrdr--x")));
        assert_eq!(parse(&json!({"name": " "})).name, None, "blank is absent");
    }

    #[test]
    fn one_object_is_read_without_waiting_for_more() {
        // A reader that fails if asked past the object: proves no read to EOF.
        struct Once(Vec<u8>, usize);
        impl Read for Once {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                if self.1 >= self.0.len() {
                    return Err(std::io::Error::other("read past the object"));
                }
                let n = buf.len().min(self.0.len() - self.1);
                buf[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
                self.1 += n;
                Ok(n)
            }
        }
        let v = read_one(Once(br#"{"name":"a"}"#.to_vec(), 0)).unwrap();
        assert_eq!(v["name"], "a");
        assert!(read_one(&b"[1]"[..]).is_err());
        assert!(read_one(&b""[..]).is_err());
        assert!(read_one(&b"{oops"[..]).is_err());
    }

    #[test]
    fn merging_adds_once_and_keeps_the_rest() {
        let mut s = json!({
            "permissions": {"allow": ["Bash(ls)"]},
            "hooks": {"WorktreeCreate": [{"hooks": [{"type": "command", "command": "other"}]}]}
        });
        assert!(merge(&mut s, "kinfra").unwrap());
        assert!(!merge(&mut s, "kinfra").unwrap(), "idempotent");
        assert_eq!(s["permissions"]["allow"][0], "Bash(ls)");
        let create = s["hooks"]["WorktreeCreate"].as_array().unwrap();
        assert_eq!(create.len(), 2);
        assert_eq!(create[0]["hooks"][0]["command"], "other");
        assert_eq!(
            create[1]["hooks"][0]["command"],
            "kinfra hook worktree-create"
        );
        assert_eq!(
            s["hooks"]["WorktreeRemove"][0]["hooks"][0]["command"],
            "kinfra hook worktree-remove"
        );
        assert!(merge(&mut json!([]), "kinfra").is_err());
        assert!(merge(&mut json!({"hooks": []}), "kinfra").is_err());
    }
}
