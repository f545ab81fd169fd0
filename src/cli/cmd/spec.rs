use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The feature to write the design of (a worktree `<spec_prefix><feature>` on
    /// branch `spec/<feature>`, no stack).
    pub feature: String,
    /// Where the branch starts (a commit or ref; default HEAD).
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let path =
        crate::instance::lifecycle::workflow::spec(ctx, stack, &a.feature, a.base.as_deref())?;
    ctx.reporter
        .success(&format!("Spec worktree {}", path.display()));
    crate::outln!("{}", path.display());
    Ok(0)
}
