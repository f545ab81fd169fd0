//! `sync`: an instance's `.env.sandbox` follows its description. Ports it has keep
//! their numbers; keys the description gained are added (ports at the slot's
//! values), keys it no longer makes are dropped; the description's literal
//! variables and shared directories take its values. `up` does it before starting,
//! `kinfra sandbox sync` without starting; both say what changed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::instance::Instance;
use crate::instance::error::Result;
use crate::instance::model::env::SandboxEnv;
use crate::stack::Stack;
use crate::state::context::Context;

/// One line of `.env.sandbox` that changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    pub key: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.old, &self.new) {
            (None, Some(n)) => write!(f, "added {}={n}", self.key),
            (Some(_), None) => write!(f, "dropped {}", self.key),
            (Some(o), Some(n)) => write!(f, "{}: {o} -> {n}", self.key),
            (None, None) => Ok(()),
        }
    }
}

/// Pure: the file `env` (as read, missing ports filled) should be under `stack`, and
/// the lines that change. Of the lines the description no longer makes, only those
/// in `owned` (keys kinfra wrote) go; any other line is the person's and stays.
pub fn plan(
    stack: &Stack,
    env: &SandboxEnv,
    shared_dir: &Path,
    owned: &std::collections::BTreeSet<String>,
) -> (BTreeMap<String, String>, Vec<Change>) {
    let old = &env.vars;
    let created = old.get("CREATED_AT").cloned().unwrap_or_default();
    let mut new = SandboxEnv::new(stack, env.slot, &env.instance_id, shared_dir, &created).vars;
    // Ports stay what they are; the version is the writer's.
    for (k, p) in &env.ports {
        new.insert(k.clone(), p.to_string());
    }
    if let Some(v) = old.get("SANDBOX_VERSION") {
        new.insert("SANDBOX_VERSION".into(), v.clone());
    }
    for (k, v) in old {
        // Chosen ports are the resolver's to keep; lines kinfra never wrote, the
        // person's.
        let chosen = stack.auto_ports && k.starts_with(crate::tools::model::PORT_PREFIX);
        if !new.contains_key(k) && (chosen || !owned.contains(k)) {
            new.insert(k.clone(), v.clone());
        }
    }
    let mut changes = Vec::new();
    for (k, v) in &new {
        match old.get(k) {
            Some(o) if o == v => {}
            o => changes.push(Change {
                key: k.clone(),
                old: o.cloned(),
                new: Some(v.clone()),
            }),
        }
    }
    for (k, o) in old {
        if !new.contains_key(k) {
            changes.push(Change {
                key: k.clone(),
                old: Some(o.clone()),
                new: None,
            });
        }
    }
    changes.sort_by(|a, b| a.key.cmp(&b.key));
    (new, changes)
}

/// What [`sync`] found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Synced {
    pub changes: Vec<Change>,
    /// The description the instance followed before, when it was another one.
    pub was: Option<String>,
}

/// Brings `inst`'s file in line with `stack` (the caller holds the instance's lock)
/// and records the description it now follows. Returns the instance as it is now.
pub fn sync(ctx: &Context, stack: &Stack, inst: &Instance) -> Result<(Instance, Synced)> {
    // One read of the record serves both the keys it owns and whether it changed.
    let recorded = ctx
        .registry()
        .load()?
        .kinfra
        .descriptions
        .get(inst.id())
        .cloned();
    let recorded_keys = recorded
        .as_ref()
        .map(|d| d.keys.clone())
        .unwrap_or_default();
    // Without a record (the Python tools' files, older kinfra): the keys any of
    // KTRDR's descriptions or this one writes.
    let owned: std::collections::BTreeSet<String> = if recorded_keys.is_empty() {
        crate::stack::compat::unrecorded_keys(stack)
    } else {
        recorded_keys.into_iter().collect()
    };
    let (vars, changes) = plan(stack, &inst.env, &ctx.shared_dir(), &owned);
    if !changes.is_empty() {
        let path = inst.dir.join(crate::state::envfile::FILE_NAME);
        crate::state::envfile::write(&path, &vars, None)?;
    }
    let now = stack.described();
    let mut was = None;
    // Most starts change nothing: no registry write then.
    if recorded.as_ref() != Some(&now) {
        ctx.registry().update(|c| {
            let id = inst.id().to_string();
            let before = c.kinfra.descriptions.get(&id).cloned();
            if before.as_ref() != Some(&now) {
                if let Some(b) = before
                    && b.fingerprint != now.fingerprint
                {
                    was = Some(b.origin);
                }
                c.kinfra.descriptions.insert(id, now.clone());
            }
            Ok(())
        })?;
    }
    let mut env = inst.env.clone();
    env.vars = vars;
    Ok((
        Instance {
            kind: inst.kind,
            dir: inst.dir.clone(),
            env,
        },
        Synced { changes, was },
    ))
}

/// Tells the person what [`sync`] did.
pub fn report(ctx: &Context, stack: &Stack, s: &Synced) {
    if let Some(was) = &s.was {
        ctx.reporter.info(&format!(
            "the description changed since this instance last ran (then: {was}; now: {})",
            stack.origin
        ));
    }
    if !s.changes.is_empty() {
        ctx.reporter.info(&format!(
            ".env.sandbox follows it: {}",
            s.changes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::{KTRDR, KTRDR_2026};

    #[test]
    fn an_m6_local_prod_follows_todays_description_keeping_its_ports() {
        // What M6 (and the Python tool) wrote for local-prod, with a port moved by hand.
        let mut m6 = SandboxEnv::new(&KTRDR, 0, "ktrdr-prod", Path::new("/s"), "t");
        m6.vars.insert("KTRDR_API_PORT".into(), "8100".into());
        m6.vars.insert("MY_OWN_LINE".into(), "kept".into());
        let read = SandboxEnv::from_map_using(&KTRDR_2026, m6.vars.clone(), None, true).unwrap();
        let owned = &KTRDR.kinfra_keys();
        let (new, changes) = plan(&KTRDR_2026, &read, Path::new("/s"), owned);
        assert_eq!(new["MY_OWN_LINE"], "kept", "a line the person added stays");
        assert_eq!(new["KTRDR_API_PORT"], "8100", "a port keeps its number");
        assert_eq!(new["KTRDR_DESIGN_AGENT_PORT"], "5010");
        assert_eq!(new["KTRDR_ENV"], "production");
        assert_eq!(new["KTRDR_JAEGER_UI_PORT"], "46686");
        assert!(!new.contains_key("KTRDR_WORKER_PORT_5"));
        let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert!(
            said.contains(&"added KTRDR_DESIGN_AGENT_PORT=5010".to_string()),
            "{said:?}"
        );
        assert!(
            said.contains(&"dropped KTRDR_WORKER_PORT_8".to_string()),
            "{said:?}"
        );
        assert!(
            said.contains(&"KTRDR_JAEGER_UI_PORT: 16686 -> 46686".to_string()),
            "{said:?}"
        );
        assert_eq!(new["CREATED_AT"], "t");
        // Synced once, nothing more changes.
        let again = SandboxEnv::from_map(&KTRDR_2026, new.clone()).unwrap();
        assert!(
            plan(&KTRDR_2026, &again, Path::new("/s"), owned)
                .1
                .is_empty()
        );
    }
}
