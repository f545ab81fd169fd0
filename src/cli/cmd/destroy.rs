use crate::instance::error::Error;
use crate::instance::{self, DestroyOptions, Destroyed};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Refuses (exit 5), listing what would be lost, when the worktree has \
uncommitted changes or commits on no branch (the worktree's branch stays, with its commits). A directory is deleted only when it is the \
instance's registered path and a worktree kinfra created."
)]
pub struct Args {
    /// A registered sandbox (default: the one containing the current directory).
    #[arg(add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Keep the worktree directory.
    #[arg(long)]
    pub keep_worktree: bool,
    /// Destroy even if uncommitted work or commits on no branch would be lost.
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation at a terminal.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, clap::Args)]
pub struct LocalProdArgs {
    /// Do not ask for confirmation (required when not at a terminal).
    #[arg(long, short = 'y', alias = "yes")]
    pub force: bool,
}

pub(crate) fn summary(ctx: &Context, d: &Destroyed) {
    let images = match d.removed.images {
        0 => String::new(),
        n => format!(", {n} image(s) it built"),
    };
    ctx.reporter.success(&format!(
        "Destroyed {}: {} container(s), {} volume(s){images} removed",
        d.instance_id, d.removed.containers, d.removed.volumes
    ));
    if d.directory_deleted {
        ctx.reporter
            .info(&format!("  worktree {} deleted", d.path.display()));
        if ctx.cwd.starts_with(&d.path) {
            ctx.reporter.info(
                "  your shell's current directory was inside it and is gone: `cd` out of it. \
                 The branch stays in the repository (`git branch` lists it)",
            );
        }
    } else if let Some(why) = &d.kept_because {
        ctx.reporter
            .info(&format!("  directory {} kept: {why}", d.path.display()));
    }
    if let Some(note) = &d.branch_note {
        ctx.reporter.info(&format!("  {note}"));
    }
    match (&d.engine, &d.left_on_engine) {
        (Some(_), Some(left)) => ctx
            .reporter
            .info(&format!("  forgotten here; on its engine {left}")),
        (Some(e), None) => ctx.reporter.info(&format!(
            "  on engine {e}: its code mirror removed, its ports no longer forwarded"
        )),
        _ => {}
    }
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    // At a terminal, a person confirms what goes; scripts and agents (no terminal)
    // rely on the refusal to lose work instead.
    if ctx.interactive && !a.yes {
        let e = instance::sandbox_entry(ctx, stack, a.name.as_deref())?;
        let dir = if a.keep_worktree {
            String::new()
        } else {
            format!(" and its worktree {}", e.path)
        };
        let go = super::confirm_data_loss(
            ctx,
            &format!(
                "Destroy sandbox {}: its containers, volumes{dir}?",
                e.instance_id
            ),
            "",
        )?;
        if !go {
            return Ok(1);
        }
    }
    let d = instance::destroy(
        ctx,
        stack,
        &DestroyOptions {
            name: a.name,
            keep_worktree: a.keep_worktree,
            force: a.force,
        },
    )?;
    summary(ctx, &d);
    Ok(0)
}

pub fn run_local_prod(
    ctx: &Context,
    stack: &Stack,
    a: LocalProdArgs,
) -> crate::cli::error::CliResult<i32> {
    if !a.force {
        let entry = ctx
            .registry()
            .load()?
            .local_prod
            .ok_or(Error::NoLocalProd)?;
        let confirmed = super::confirm_data_loss(
            ctx,
            &format!(
                "Destroy local-prod at {} (containers and volumes; the clone stays)?",
                entry.path
            ),
            &format!(
                "destroying local-prod at {} removes its database volumes; pass --force to confirm",
                entry.path
            ),
        )?;
        if !confirmed {
            return Ok(1);
        }
    }
    let d = instance::destroy_local_prod(ctx, stack)?;
    summary(ctx, &d);
    Ok(0)
}
