use crate::instance;
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  eval \"$(kinfra env)\"            this worktree's ports and names in the shell
  kinfra env --json | jq .KTRDR_API_PORT

The values are the instance's .env.sandbox (never secrets) and COMPOSE_PROJECT_NAME.")]
pub struct Args {
    /// A registered sandbox (default: the instance containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes())]
    pub name: Option<String>,
    /// Print JSON on stdout instead of `export` lines.
    #[arg(long)]
    pub json: bool,
}

/// The variables an agent or a script needs to reach the instance.
/// What compose gets (kinfra's keys and the ports, each once), never another line
/// of the file: `eval "$(kinfra env)"` must not set `PATH` because a file said so.
pub fn vars(ctx: &Context, stack: &Stack, inst: &instance::Instance) -> Vec<(String, String)> {
    inst.env.compose_vars(stack, &ctx.shared_dir())
}

/// Pure: `export K='V'`, with single quotes made safe for any POSIX shell.
pub fn export_line(k: &str, v: &str) -> String {
    format!("export {k}='{}'", v.replace('\'', r"'\''"))
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let inst = instance::here_or_named(ctx, stack, a.name.as_deref())?;
    let vars = vars(ctx, stack, &inst);
    if a.json {
        let map: serde_json::Map<String, serde_json::Value> =
            vars.into_iter().map(|(k, v)| (k, v.into())).collect();
        crate::outln!("{}", serde_json::to_string_pretty(&map).unwrap_or_default());
    } else {
        for (k, v) in vars {
            crate::outln!("{}", export_line(&k, &v));
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_lines_quote_safely() {
        assert_eq!(super::export_line("A", "x y"), "export A='x y'");
        assert_eq!(super::export_line("B", "it's"), r"export B='it'\''s'");
    }
}
