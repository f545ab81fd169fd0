//! An instance's volumes filled from a source: `sandbox create --data` (new
//! volumes), `sandbox reset` (its own, replaced, when confirmed).

use super::copy::{self, Copied, Pair};
use super::plan;
use super::{How, Source, engine, prepare};
use crate::data::error::{DataError, Result};
use crate::instance::Instance;
use crate::stack::Stack;
use crate::state::context::Context;

/// Fills `target`'s volumes from `source`. `replace`: the target's existing volumes
/// of those names are emptied and refilled (its containers must be stopped); else
/// each must not exist yet. Records the source for `reset`.
pub fn fill(
    ctx: &Context,
    stack: &Stack,
    target: &Instance,
    source: &Source,
    replace: bool,
    how: How,
) -> Result<Copied> {
    if let Source::Instance(i) = source
        && i.id() == target.id()
    {
        return Err(DataError::DataFromItself {
            id: target.id().into(),
        });
    }
    // One engine holds both, and this command works on it: the target's.
    same_engine_as(ctx, source, target)?;
    crate::engine::remote::route(ctx, target.id())?;
    let _lock_src = match source {
        Source::Instance(i) => Some(crate::instance::lock(ctx, i.id(), "copy data")?),
        Source::Snapshot(_) => None,
    };
    copy::recover(ctx);
    let existing = engine::volumes()?;
    let p = prepare(stack, source, &existing, how)?;
    if let Some(s) = &p.said {
        ctx.reporter.info(s);
    }
    let mut pairs = Vec::new();
    for v in &p.volumes {
        let to = plan::target_name(target.id(), &v.suffix);
        let there = existing.iter().any(|r| r.name == to);
        if there && !replace {
            return Err(crate::Error::ProjectInUse {
                project: target.id().to_string(),
                what: format!("volume {to} already exists"),
            }
            .into());
        }
        pairs.push(Pair {
            from: v.name.clone(),
            create: (!there).then(|| {
                vec![
                    (plan::COMPOSE_PROJECT, target.id().to_string()),
                    (plan::COMPOSE_VOLUME, v.key.clone()),
                    (plan::DATA_FROM, source.record()),
                ]
            }),
            to,
        });
    }
    ctx.reporter.step(&format!(
        "Copying {} volume(s) from {} into {}",
        pairs.len(),
        source.label(),
        target.id()
    ));
    let copied = copy::run(ctx, &p.job(pairs))?;
    ctx.registry().update(|c| {
        c.kinfra
            .data_origins
            .insert(target.id().to_string(), source.record());
        Ok(())
    })?;
    Ok(copied)
}

/// [`super::same_engine`] for an existing target: the engine it is placed on.
fn same_engine_as(ctx: &Context, source: &Source, target: &Instance) -> Result<()> {
    let to = ctx
        .registry()
        .load()?
        .kinfra
        .placements
        .get(target.id())
        .cloned();
    super::same_engine(ctx, source, target.id(), false, to.as_deref())
}

/// `sandbox create --data`: the sandbox, then its volumes from `source` (resolved
/// before, so bad input changes nothing). A copy that fails undoes the create too:
/// the sandbox was made for this data, and holds nothing else yet.
pub fn create(
    ctx: &Context,
    stack: &Stack,
    opts: &crate::instance::CreateOptions,
    source: &Source,
    how: How,
) -> Result<(Instance, Copied)> {
    // Before anything is made: the copy runs inside the source's engine.
    let new = format!("the new sandbox {}", opts.name);
    super::same_engine(ctx, source, &new, true, opts.on.as_deref())?;
    let inst = crate::instance::create(ctx, stack, opts)?;
    match fill(ctx, stack, &inst, source, false, how) {
        Ok(c) => Ok((inst, c)),
        Err(e) => {
            ctx.reporter.warn(&format!(
                "the data could not be copied; removing the new sandbox {}",
                inst.id()
            ));
            let _ = crate::instance::destroy(
                ctx,
                stack,
                &crate::instance::DestroyOptions {
                    name: Some(inst.id().to_string()),
                    keep_worktree: false,
                    force: false,
                },
            );
            Err(e)
        }
    }
}

/// Asks before the target's data is replaced (a terminal), or wants `yes`.
fn confirm_replace(ctx: &Context, target: &Instance, source: &Source, yes: bool) -> Result<()> {
    if yes {
        return Ok(());
    }
    let question = format!(
        "Replace the data of {} with {}'s? Writes made in {} are lost",
        target.id(),
        source.label(),
        target.id()
    );
    if !ctx.interactive {
        return Err(DataError::Unconfirmed {
            question: Some(question),
        });
    }
    if !ctx.prompter.confirm(&question, false)? {
        return Err(DataError::Unconfirmed { question: None });
    }
    Ok(())
}

/// `sandbox up --data`: a stopped sandbox's volumes from `source` before it starts;
/// asks first when it already has data volumes.
pub fn seed(
    ctx: &Context,
    stack: &Stack,
    target: &Instance,
    spec: &str,
    yes: bool,
    how: How,
) -> Result<(Source, Copied)> {
    if target.kind != crate::instance::Kind::Sandbox {
        return Err(DataError::LocalProdData);
    }
    let source = super::resolve_source(ctx, stack, spec, true)?;
    same_engine_as(ctx, &source, target)?;
    let holders = engine::holders(target.id())?;
    if holders.iter().any(|h| h.running) {
        return Err(DataError::DataTargetRunning {
            id: target.id().into(),
            spec: spec.into(),
        });
    }
    let has_data = !plan::select(&engine::volumes()?, target.id(), &stack.data)
        .data
        .is_empty();
    if has_data {
        confirm_replace(ctx, target, &source, yes)?;
    }
    let _lock = crate::instance::lock(ctx, target.id(), "copy data")?;
    let copied = fill(ctx, stack, target, &source, true, how)?;
    Ok((source, copied))
}

/// Where `id`'s data came from, as recorded.
pub fn origin_of(ctx: &Context, id: &str) -> Result<Option<String>> {
    Ok(ctx.registry().load()?.kinfra.data_origins.get(id).cloned())
}

#[derive(Debug, Clone, Default)]
pub struct ResetOptions {
    /// Instead of where it came from.
    pub data: Option<String>,
    pub yes: bool,
    pub how: How,
}

/// `sandbox reset`: the sandbox's data volumes back to its source's (a snapshot as
/// it was saved; an instance as it is now). Its containers are stopped for it and
/// started again; writes made in the sandbox are gone, nothing else is.
pub fn reset(
    ctx: &Context,
    stack: &Stack,
    target: &Instance,
    opts: &ResetOptions,
) -> Result<(Source, Copied)> {
    let spec = match &opts.data {
        Some(d) => d.clone(),
        None => {
            let rec = origin_of(ctx, target.id())?.ok_or_else(|| DataError::NoDataSource {
                id: target.id().into(),
            })?;
            match rec.split_once(':') {
                Some(("snapshot", n)) => n.to_string(),
                Some(("instance", id)) => {
                    let reg = ctx.registry().load()?;
                    if reg.local_prod.as_ref().is_some_and(|e| e.instance_id == id) {
                        "local-prod".into()
                    } else {
                        id.to_string()
                    }
                }
                _ => {
                    return Err(DataError::DataRecordUnknown {
                        id: target.id().into(),
                        record: rec.clone(),
                    });
                }
            }
        }
    };
    let source = super::resolve_source(ctx, stack, &spec, true)?;
    // Before anything is stopped or asked.
    same_engine_as(ctx, &source, target)?;
    confirm_replace(ctx, target, &source, opts.yes)?;
    let _lock = crate::instance::lock(ctx, target.id(), "reset")?;
    let running: Vec<String> = engine::holders(target.id())?
        .into_iter()
        .filter(|h| h.running)
        .map(|h| h.id)
        .collect();
    if !running.is_empty() {
        ctx.reporter.step(&format!(
            "Stopping {}'s {} container(s)",
            target.id(),
            running.len()
        ));
        engine::stop(&running)?;
    }
    let copied = fill(ctx, stack, target, &source, true, opts.how);
    if !running.is_empty() {
        ctx.reporter.step("Starting them again");
        engine::start(&running)?;
    }
    Ok((source, copied?))
}
