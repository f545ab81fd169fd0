use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A registered sandbox by name (default: the one containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Do not read 1Password (the stack's insecure defaults apply).
    #[arg(long)]
    pub no_secrets: bool,
    /// compose's own arguments, after `--` (`config`, `ps`, `images`, `top`…). Output
    /// passes through kinfra, secrets shown as ***: for a terminal inside a service,
    /// `kinfra sandbox shell`; to follow logs, `kinfra sandbox logs -f`.
    #[arg(last = true, required = true, value_name = "ARGS")]
    pub args: Vec<String>,
}

pub fn run(ctx: &Context, stack: &Stack, kind: Kind, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::find(ctx, stack, kind, a.name.as_deref())?;
    let out = instance::compose(ctx, stack, &inst, &a.args, !a.no_secrets)?;
    if !out.stdout.is_empty() {
        crate::outln!("{}", out.stdout.trim_end_matches('\n'));
    }
    crate::errp!("{}", out.stderr);
    Ok(out.status.code().unwrap_or(1))
}
