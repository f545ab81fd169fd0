//! Dynamic shell completion: the shell asks kinfra itself (`KINFRA_COMPLETE=bash
//! kinfra -- …`) for instance names, service names and free slots. Candidates come
//! from the registry and one `docker ps`, never from `compose config`; any failure
//! offers nothing rather than an error on the user's prompt line.

use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};

use crate::state::registry::Registry;

fn registry() -> Option<crate::state::registry::Contents> {
    let home = crate::state::home::Home::from_env().ok()?;
    Registry::new(&home).load().ok()
}

/// Registered sandboxes, by the name commands accept, with slot and path as help.
pub fn sandboxes() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let stack = &stack();
        registry()
            .map(|c| {
                c.instances
                    .values()
                    .map(|e| {
                        let name = e
                            .instance_id
                            .strip_prefix(stack.worktree_prefix.as_str())
                            .unwrap_or(&e.instance_id);
                        CompletionCandidate::new(name)
                            .help(Some(format!("slot {}, {}", e.slot, e.path).into()))
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// What `release` takes: the slots in use and the instances' names.
pub fn release_targets() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        registry()
            .map(|c| {
                c.instances
                    .values()
                    .flat_map(|e| {
                        [
                            CompletionCandidate::new(e.slot.to_string())
                                .help(Some(e.instance_id.clone().into())),
                            CompletionCandidate::new(e.instance_id.clone())
                                .help(Some(format!("slot {}", e.slot).into())),
                        ]
                    })
                    .collect()
            })
            .unwrap_or_default()
    })
}

/// Slots no instance uses.
pub fn free_slots() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let stack = &stack();
        let used = registry().map(|c| c.used_slots()).unwrap_or_default();
        (1..=stack.max_slot)
            .filter(|s| !used.contains_key(s))
            .map(|s| CompletionCandidate::new(s.to_string()).help(Some("free".into())))
            .collect()
    })
}

/// The services of the instance containing the current directory, as Docker knows
/// them (the same source `logs` and `shell` check names against).
pub fn services() -> ArgValueCandidates {
    ArgValueCandidates::new(|| {
        let Some(root) = std::env::current_dir()
            .ok()
            .and_then(|d| crate::instance::find_root(&d))
        else {
            return Vec::new();
        };
        // The instance's name is its registry entry's, never its file's.
        let Some(id) = registry().and_then(|c| c.entry_at(&root).map(|e| e.instance_id.clone()))
        else {
            return Vec::new();
        };
        let mut names: Vec<String> = crate::tools::docker::containers(Some(&id))
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.service)
            .collect();
        names.sort();
        names.dedup();
        names.into_iter().map(CompletionCandidate::new).collect()
    })
}

/// The stack of the directory the shell completes in (a completion is a process of
/// its own, before any command runs): the built-in one when it cannot be read.
fn stack() -> crate::stack::Stack {
    std::env::current_dir()
        .ok()
        .and_then(|d| {
            crate::stack::for_dir(&d, crate::state::home::Home::from_env().ok().as_ref()).ok()
        })
        .unwrap_or_else(|| crate::stack::KTRDR.clone())
}
