//! `kinfra sandbox compose ARGS…`: compose itself, for one instance, run as `up`
//! runs it: its project name, files (the resolved copy where kinfra chooses the
//! ports), profiles, environment and secrets. Its output passes through kinfra, so a
//! secret's value is shown as `***` (`compose config` shows where each one lands).

use super::{Instance, UpOptions};
use crate::stack::Stack;
use crate::state::context::Context;
use crate::support::error::Result;
use crate::tools::compose::Compose;

/// Runs compose with `args` for `inst`; returns what it printed and its status (the
/// caller prints it, redacted).
pub fn compose(
    ctx: &Context,
    stack: &Stack,
    inst: &Instance,
    args: &[String],
    secrets: bool,
) -> Result<crate::support::exec::Output> {
    let compose = Compose::detect(&ctx.home)?;
    let mut project = inst.project(ctx, stack)?;
    let copy = ctx.home.model_copy_file(inst.id());
    let resolved;
    let inst = if stack.auto_ports && !copy.is_file() {
        // Never started: the copy `up` would run, made now (under the lock, as `up`).
        let _lock = super::lock(ctx, inst.id(), "compose")?;
        resolved = super::resolve::into_project(ctx, &compose, stack, inst, &mut project)?;
        &resolved.instance
    } else {
        inst
    };
    let opts = UpOptions {
        secrets,
        ..Default::default()
    };
    super::up::load_secrets(ctx, stack, inst, &opts, &mut project.env)?;
    Ok(compose.cmd(&project).args(args).output()?)
}
