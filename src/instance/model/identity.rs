//! An instance's identity (its name, which is its compose project, and its slot)
//! is its registry entry's. `.env.sandbox` repeats it for the repository's tools,
//! but anyone can edit that file: a line naming another instance would aim every
//! command (`down -v` included) at that instance's containers and volumes. So the
//! file's identity keys are checked against the registry where the file is loaded
//! for an instance ([`crate::instance::Instance::read`]), and a disagreement is
//! corrupt state, reported with both values and never rewritten.

use std::path::Path;

use crate::instance::error::{Error, IdentityDifference, Result};
use crate::instance::model::env::SandboxEnv;
use crate::state::envfile::FILE_NAME;
use crate::state::registry::Contents;

/// Pure: checks the identity keys of `env`, read from `dir`'s `.env.sandbox`,
/// against the registry `reg`.
///
/// A registered directory: `INSTANCE_ID`, `COMPOSE_PROJECT_NAME` (when present) and
/// `SLOT_NUMBER` must be its entry's. A directory the registry does not know (its
/// registry was lost, say) keeps the file's name only when no registered instance
/// holds that name, and when the file agrees with itself.
pub fn check(reg: &Contents, dir: &Path, env: &SandboxEnv) -> Result<()> {
    let project = env.vars.get("COMPOSE_PROJECT_NAME").map(|v| v.trim());
    let mut differences = Vec::new();
    match reg.entry_at(dir) {
        Some(e) => {
            let id = e.instance_id.as_str();
            if env.instance_id != id {
                differences.push(diff("INSTANCE_ID", &env.instance_id, id));
            }
            if let Some(p) = project.filter(|p| *p != id) {
                differences.push(diff("COMPOSE_PROJECT_NAME", p, id));
            }
            if env.slot != e.slot {
                differences.push(diff(
                    "SLOT_NUMBER",
                    &env.slot.to_string(),
                    &e.slot.to_string(),
                ));
            }
        }
        None => {
            for (key, value) in [
                ("INSTANCE_ID", Some(env.instance_id.as_str())),
                ("COMPOSE_PROJECT_NAME", project),
            ] {
                let Some(value) = value else { continue };
                if let Some(other) = registered(reg, value) {
                    differences.push(IdentityDifference {
                        key: key.into(),
                        file: value.into(),
                        registry: format!(
                            "{value} is the instance registered at {other}, and this directory is not registered"
                        ),
                        fix: None,
                    });
                }
            }
            if differences.is_empty()
                && let Some(p) = project.filter(|p| *p != env.instance_id)
            {
                differences.push(IdentityDifference {
                    key: "COMPOSE_PROJECT_NAME".into(),
                    file: p.into(),
                    registry: format!(
                        "nothing for this directory, and the file's INSTANCE_ID is {:?}",
                        env.instance_id
                    ),
                    fix: Some(format!("COMPOSE_PROJECT_NAME={}", env.instance_id)),
                });
            }
        }
    }
    if differences.is_empty() {
        return Ok(());
    }
    Err(Error::IdentityMismatch {
        path: dir.join(FILE_NAME),
        differences,
    })
}

fn diff(key: &str, file: &str, registered: &str) -> IdentityDifference {
    IdentityDifference {
        key: key.into(),
        file: file.into(),
        registry: format!("{registered:?}"),
        fix: Some(format!("{key}={registered}")),
    }
}

/// Where the instance named `id` is registered, when it is.
fn registered(reg: &Contents, id: &str) -> Option<String> {
    reg.local_prod
        .iter()
        .chain(reg.instances.values())
        .find(|e| e.instance_id == id)
        .map(|e| e.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KTRDR;
    use crate::state::registry::Entry;

    fn entry(id: &str, slot: u8, path: &str) -> Entry {
        Entry {
            instance_id: id.into(),
            slot,
            path: path.into(),
            created_at: "t".into(),
            is_worktree: slot != 0,
            parent_repo: None,
        }
    }

    fn reg() -> Contents {
        let mut c = Contents {
            local_prod: Some(entry("ktrdr-prod", 0, "/nowhere/prod")),
            ..Default::default()
        };
        c.instances
            .insert("ktrdr--a".into(), entry("ktrdr--a", 1, "/nowhere/ktrdr--a"));
        c
    }

    fn env(slot: u8, id: &str) -> SandboxEnv {
        SandboxEnv::new(&KTRDR, slot, id, Path::new("/s"), "t")
    }

    fn keys(e: Error) -> Vec<String> {
        match e {
            Error::IdentityMismatch { differences, .. } => {
                differences.into_iter().map(|d| d.key).collect()
            }
            other => panic!("not a mismatch: {other}"),
        }
    }

    #[test]
    fn the_registered_identity_passes() {
        check(&reg(), Path::new("/nowhere/ktrdr--a"), &env(1, "ktrdr--a")).unwrap();
        check(&reg(), Path::new("/nowhere/prod"), &env(0, "ktrdr-prod")).unwrap();
        // An unregistered directory with a name nobody holds: kept (a lost registry).
        check(&reg(), Path::new("/nowhere/b"), &env(2, "ktrdr--b")).unwrap();
    }

    #[test]
    fn another_instance_named_in_a_registered_directory_is_refused() {
        let e = check(
            &reg(),
            Path::new("/nowhere/ktrdr--a"),
            &env(1, "ktrdr-prod"),
        )
        .unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("\"ktrdr-prod\"") && text.contains("\"ktrdr--a\""),
            "{text}"
        );
        assert_eq!(keys(e), ["INSTANCE_ID", "COMPOSE_PROJECT_NAME"]);
        // Only the project name changed by hand.
        let mut e1 = env(1, "ktrdr--a");
        e1.vars
            .insert("COMPOSE_PROJECT_NAME".into(), "ktrdr-prod".into());
        let e = check(&reg(), Path::new("/nowhere/ktrdr--a"), &e1).unwrap_err();
        assert_eq!(e.exit_code(), 6);
        assert_eq!(keys(e), ["COMPOSE_PROJECT_NAME"]);
    }

    #[test]
    fn a_slot_written_by_hand_is_refused() {
        let e = check(&reg(), Path::new("/nowhere/prod"), &env(3, "ktrdr-prod")).unwrap_err();
        assert!(e.to_string().contains("SLOT_NUMBER is \"3\""), "{e}");
        assert!(
            crate::cli::hints::hint(&e)
                .unwrap()
                .contains("SLOT_NUMBER=0"),
            "{:?}",
            crate::cli::hints::hint(&e)
        );
        assert_eq!(keys(e), ["SLOT_NUMBER"]);
    }

    #[test]
    fn an_unregistered_directory_cannot_take_a_registered_name() {
        let e = check(&reg(), Path::new("/nowhere/b"), &env(2, "ktrdr-prod")).unwrap_err();
        assert!(e.to_string().contains("/nowhere/prod"), "{e}");
        let mut e1 = env(2, "ktrdr--b");
        e1.vars
            .insert("COMPOSE_PROJECT_NAME".into(), "ktrdr--a".into());
        assert_eq!(
            keys(check(&reg(), Path::new("/nowhere/b"), &e1).unwrap_err()),
            ["COMPOSE_PROJECT_NAME"]
        );
        // Disagreeing with itself, naming nobody registered.
        e1.vars
            .insert("COMPOSE_PROJECT_NAME".into(), "someone".into());
        assert_eq!(
            keys(check(&reg(), Path::new("/nowhere/b"), &e1).unwrap_err()),
            ["COMPOSE_PROJECT_NAME"]
        );
    }
}
