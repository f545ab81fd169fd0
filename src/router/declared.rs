//! The ports of instances whose description fixes them (a port table, KTRDR's):
//! kinfra chose none, so the registry records none. They follow from the
//! description's table and the slot the registry gives the instance, never from
//! its `.env.sandbox`: that file is anyone's to edit, and a port written there
//! (local-prod's 8000) would have the router send an instance's name to another
//! instance. The router's names and `kinfra checkout` serve them as they serve
//! chosen ports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::names::{self, Declared};
use crate::state::context::Context;
use crate::state::registry::{Contents, Entry};

/// Every such instance's [`Declared`] ports, and the descriptions read (the router
/// builds its table again when one changes). An instance whose description
/// cannot be read is left out: it has no routes, as before its first start, and
/// the rest of the table is served.
pub fn all(ctx: &Context, reg: &Contents) -> (BTreeMap<String, Declared>, Vec<PathBuf>) {
    let mut declared = BTreeMap::new();
    let mut files = Vec::new();
    for e in reg.local_prod.iter().chain(reg.instances.values()) {
        if reg.kinfra.ports.contains_key(&e.instance_id) {
            continue;
        }
        files.push(PathBuf::from(&e.path).join(crate::stack::FILE_NAME));
        if let Some(d) = of(ctx, e) {
            declared.insert(e.instance_id.clone(), d);
        }
    }
    (declared, files)
}

/// The instance's [`Declared`] ports: its description's table at the registry's
/// slot; `None` when its description chooses its ports or cannot be read, or its
/// directory holds no `.env.sandbox`.
pub fn of(ctx: &Context, e: &Entry) -> Option<Declared> {
    // Only an instance that was made here: its directory with the `.env.sandbox`
    // init writes (values unread). A directory that is gone, or never was, would
    // be read under the built-in description and get KTRDR's table.
    let dir = PathBuf::from(&e.path);
    if !dir.join(crate::state::envfile::FILE_NAME).is_file() {
        return None;
    }
    let stack = crate::stack::for_dir(&dir, Some(&ctx.home)).ok()?;
    if stack.auto_ports {
        return None;
    }
    let ports: Vec<(String, u16)> = crate::stack::ports::own_for_slot(&stack, e.slot)
        .into_iter()
        .map(|(k, p)| (k.to_string(), p))
        .collect();
    Some(names::declared(&stack, &ports))
}
