use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum HookCmd {
    /// Claude Code's WorktreeCreate hook: reads its JSON on stdin, creates a sandbox,
    /// prints only the worktree's path on stdout.
    WorktreeCreate,
    /// Claude Code's WorktreeRemove hook: destroys the sandbox at the worktree's path,
    /// refusing (exit 5) when that would lose uncommitted work or commits on no branch.
    WorktreeRemove,
    /// Adds both hooks to .claude/settings.local.json of this repository (other
    /// settings are kept).
    Install,
}

pub fn run(ctx: &Context, stack: &Stack, c: HookCmd) -> crate::cli::error::CliResult<i32> {
    match c {
        HookCmd::WorktreeCreate => {
            let payload = crate::agents::hook::parse(&crate::agents::hook::read_one(
                std::io::stdin().lock(),
            )?);
            let path = crate::agents::hook::worktree_create(ctx, stack, &payload)?;
            crate::outln!("{}", path.display());
        }
        HookCmd::WorktreeRemove => {
            let payload = crate::agents::hook::parse(&crate::agents::hook::read_one(
                std::io::stdin().lock(),
            )?);
            let d = crate::agents::hook::worktree_remove(ctx, stack, &payload)?;
            ctx.reporter
                .success(&format!("Destroyed sandbox {}", d.instance_id));
        }
        HookCmd::Install => {
            let root = crate::tools::git::toplevel(&ctx.cwd)?;
            let (path, changed) = crate::agents::hook::install(&root, "kinfra")?;
            if changed {
                ctx.reporter.success(&format!(
                    "Added kinfra's worktree hooks to {}",
                    path.display()
                ));
            } else {
                ctx.reporter.info(&format!(
                    "{} already has kinfra's worktree hooks",
                    path.display()
                ));
            }
        }
    }
    Ok(0)
}
