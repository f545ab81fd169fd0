//! Compatibility with the tools that share kinfra's machine and registry: KTRDR's
//! Python tools (instances made before kinfra recorded their project, its slot
//! table, its slot pool) and devops-ai's `kinfra`. What they make and hold is data
//! here, beside KTRDR's built-in descriptions; the rest of kinfra asks these
//! functions (which ports are held, which description an unrecorded instance
//! follows) instead of asking "is this KTRDR".

use std::collections::{BTreeMap, BTreeSet};

use super::Stack;
use super::builtin::{KTRDR, KTRDR_2026};
use crate::state::registry::{Contents, KinfraState};

/// The description a registered instance follows when kinfra recorded none (the
/// Python tools made it): the name is the project's (`<prefix>…`, or its
/// local-prod id), checked against `stack`, then KTRDR's.
pub fn unrecorded_stack<'s>(stack: &'s Stack, id: &str) -> Option<&'s Stack> {
    [stack, &*KTRDR]
        .into_iter()
        .find(|s| id.starts_with(&s.worktree_prefix) || id == s.local_prod_id)
}

/// The project an instance belongs to: as recorded when it was made, else (made
/// before kinfra recorded it) the one whose names fit, else "-".
pub fn project_of(state: &KinfraState, stack: &Stack, id: &str) -> String {
    if let Some(p) = state.stacks.get(id) {
        return p.clone();
    }
    unrecorded_stack(stack, id).map_or_else(|| "-".into(), |s| s.name.clone())
}

/// The description known by its project name: `stack`, or a built-in one.
pub fn by_name<'s>(stack: &'s Stack, project: &str) -> Option<&'s Stack> {
    [stack, &*KTRDR].into_iter().find(|s| s.name == project)
}

/// The keys a `.env.sandbox` without kinfra's record of them (the Python tools'
/// files, older kinfra) may hold as kinfra's own: those any of KTRDR's
/// descriptions or `stack` writes.
pub fn unrecorded_keys(stack: &Stack) -> BTreeSet<String> {
    [&*KTRDR, &*KTRDR_2026, stack]
        .into_iter()
        .flat_map(Stack::kinfra_keys)
        .collect()
}

/// Host ports the other tools hold, claimed or not, each with its holder: the
/// Python tools' slot pool and devops-ai's slots.
pub fn foreign_ports(c: &Contents) -> BTreeMap<u16, String> {
    let mut held = c.pool_ports();
    held.extend(crate::state::registry::devops_ai_ports());
    held
}

/// The ports of an instance of a slot-numbered built-in project (KTRDR's) by its
/// slot, for an instance kinfra chose no ports for; `None` for any other project.
pub fn slot_ports(project: &str, slot: u8) -> Option<Vec<u16>> {
    let ktrdr = &*KTRDR;
    (project == ktrdr.name).then(|| {
        super::ports::own_for_slot(ktrdr, slot)
            .into_iter()
            .map(|(_, p)| p)
            .collect()
    })
}

/// Ports every slot of KTRDR's slot table will want, when the registry holds a
/// KTRDR instance (a slot not yet taken will want its ports too); none otherwise.
/// The auto scheme chooses around them.
pub fn reserved_slot_ports(c: &Contents) -> Vec<u16> {
    let ktrdr = &*KTRDR;
    let here = c.local_prod.iter().chain(c.instances.values()).any(|e| {
        e.instance_id.starts_with(&ktrdr.worktree_prefix) || e.instance_id == ktrdr.local_prod_id
    });
    if !here {
        return Vec::new();
    }
    (0..=ktrdr.max_slot)
        .flat_map(|slot| super::ports::own_for_slot(ktrdr, slot))
        .map(|(_, p)| p)
        .collect()
}

/// Whether `id` is how the Python tools name their pooled slots' compose projects
/// (`slot-N`, `<project>-slot-N`): kinfra never makes (and so never adopts or
/// removes) one.
pub fn is_pool_name(id: &str) -> bool {
    id.rsplit_once("slot-").is_some_and(|(head, n)| {
        !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_digit())
            && (head.is_empty() || head.ends_with('-'))
    })
}

/// The project `list` shows the Python tools' pooled slots under.
pub fn pool_project() -> String {
    format!("{} (the Python tool's slot pool)", KTRDR.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unrecorded_instances_follow_the_description_their_names_fit() {
        let shop = Stack::inferred("shop", "compose.yaml").unwrap();
        let state = KinfraState::default();
        assert_eq!(project_of(&state, &shop, "ktrdr--a"), KTRDR.name);
        assert_eq!(project_of(&state, &shop, &KTRDR.local_prod_id), KTRDR.name);
        assert_eq!(
            project_of(&state, &shop, &format!("{}x", shop.worktree_prefix)),
            "shop"
        );
        assert_eq!(project_of(&state, &shop, "other"), "-");
        assert!(by_name(&shop, &KTRDR.name).is_some_and(|s| s.builtin));
        assert!(by_name(&shop, "nope").is_none());
        assert!(slot_ports("shop", 1).is_none());
        assert!(slot_ports(&KTRDR.name, 1).is_some_and(|p| p.contains(&8001)));
    }

    #[test]
    fn a_ktrdr_instance_reserves_every_slot_of_the_table() {
        let mut c = Contents::default();
        assert!(reserved_slot_ports(&c).is_empty());
        c.instances.insert(
            "ktrdr--a".into(),
            crate::state::registry::Entry {
                instance_id: "ktrdr--a".into(),
                slot: 1,
                path: "/nowhere".into(),
                created_at: "t".into(),
                is_worktree: true,
                parent_repo: None,
            },
        );
        let r = reserved_slot_ports(&c);
        assert!(r.contains(&8000) && r.contains(&(8000 + u16::from(KTRDR.max_slot))));
    }

    #[test]
    fn pool_names_are_refused() {
        for n in ["slot-1", "shop-slot-12"] {
            assert!(is_pool_name(n), "{n}");
        }
        for n in ["slot-", "myslot-1", "slot-1a", "shop"] {
            assert!(!is_pool_name(n), "{n}");
        }
    }
}
