use crate::data;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The sandbox's data volumes go back to the snapshot it was made from (or, made from an \
instance, to that instance's data as it is now); --data names another source. Its containers are \
stopped for the copy and started again. Writes made in the sandbox are lost, nothing else is. Asks at a \
terminal; elsewhere --yes confirms."
)]
pub struct Args {
    /// The sandbox (default: the one containing the current directory).
    #[arg(add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// `local-prod`, a sandbox, or a snapshot of this project.
    #[arg(long, value_name = "SOURCE")]
    pub data: Option<String>,
    /// From a running instance: copy its Postgres volumes from the
    /// running server with `pg_basebackup` instead of pausing it (docs/DATA.md).
    #[arg(long)]
    pub online: bool,
    /// Confirm without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let target = crate::instance::find(
        ctx,
        stack,
        crate::instance::Kind::Sandbox,
        a.name.as_deref(),
    )?;
    let (source, copied) = data::reset(
        ctx,
        stack,
        &target,
        &data::ResetOptions {
            data: a.data,
            yes: a.yes,
            how: data::How { online: a.online },
        },
    )?;
    if a.json {
        crate::outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "instance": target.id(), "source": source.record(), "copy": copied
            }))
            .unwrap_or_default()
        );
    }
    ctx.reporter.success(&data::describe(
        &copied,
        &format!("Reset {}'s data", target.id()),
        &source.label(),
    ));
    Ok(0)
}
