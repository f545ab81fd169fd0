//! The ports of instances whose description fixes them (a port table, KTRDR's):
//! kinfra chose none, so the registry has none; they are in each instance's
//! `.env.sandbox`, read under its own description. The router's names and
//! `kinfra checkout` serve them as they serve chosen ports.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::names::{self, Declared};
use crate::state::context::Context;
use crate::state::registry::{Contents, Entry};

/// Every such instance's [`Declared`] ports, and the `.env.sandbox` files read
/// (the router reads them again when they change). An instance whose description
/// or file cannot be read is left out: it has no routes, as before its first
/// start, and the rest of the table is served.
pub fn all(ctx: &Context, reg: &Contents) -> (BTreeMap<String, Declared>, Vec<PathBuf>) {
    let mut declared = BTreeMap::new();
    let mut files = Vec::new();
    for e in reg.local_prod.iter().chain(reg.instances.values()) {
        if reg.kinfra.ports.contains_key(&e.instance_id) {
            continue;
        }
        if let Some((file, d)) = of(ctx, e) {
            files.push(file);
            if let Some(d) = d {
                declared.insert(e.instance_id.clone(), d);
            }
        }
    }
    (declared, files)
}

/// The instance's `.env.sandbox` and its [`Declared`] ports (none when the file
/// cannot be read); `None` when its description chooses its ports (or cannot be
/// read).
pub fn of(ctx: &Context, e: &Entry) -> Option<(PathBuf, Option<Declared>)> {
    let dir = PathBuf::from(&e.path);
    let stack = crate::stack::for_dir(&dir, Some(&ctx.home)).ok()?;
    if stack.auto_ports {
        return None;
    }
    let file = dir.join(crate::state::envfile::FILE_NAME);
    let d = crate::instance::env::load(&stack, &dir)
        .ok()
        .map(|env| names::declared(&stack, &env.ports));
    Some((file, d))
}
