//! `kinfra secrets status`: the instance's secrets given by reference, each with
//! its kind and whether a value is kept for it (since when). Never a value.

use crate::instance::{self, Kind};
use crate::stack::Stack;
use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum SecretsCmd {
    /// Each secret reference of the instance: kind, whether a resolved value is kept
    /// (and since when). Never prints a value.
    #[command(
        after_help = "Kept values live in $KINFRA_HOME/sandbox/secrets/<instance>.json \
(mode 0600); `up` reuses them while the reference is unchanged, `up --refresh-secrets` \
resolves them again, `destroy` removes them."
    )]
    Status(StatusArgs),
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// A registered sandbox (default: the instance containing the current directory).
    #[arg(long, value_name = "NAME", add = crate::cli::complete::sandboxes(), conflicts_with = "local_prod")]
    pub name: Option<String>,
    /// The registered local-prod.
    #[arg(long)]
    pub local_prod: bool,
    /// Print JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

pub fn run(ctx: &Context, stack: &Stack, c: SecretsCmd) -> crate::cli::error::CliResult<i32> {
    let SecretsCmd::Status(a) = c;
    let inst = if a.local_prod {
        instance::find(ctx, stack, Kind::LocalProd, None)?
    } else {
        instance::here_or_named(ctx, stack, a.name.as_deref())?
    };
    let s = instance::host::kept_secrets::status(ctx, stack, &inst);
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&s).unwrap_or_default());
        return Ok(0);
    }
    if let Some(p) = &s.problem {
        crate::errln!(
            "warning: {p}: its values are not used; the next `up` resolves every reference again and sets it aside"
        );
    }
    if s.references.is_empty() {
        crate::outln!("{}: no secrets given by reference", s.instance);
        return Ok(0);
    }
    for r in &s.references {
        let kept = match (&r.kind[..], r.cached, &r.since) {
            ("literal", _, _) => "literal (its own value)".to_string(),
            (_, true, Some(since)) => format!("kept since {since}"),
            _ => "not resolved yet".to_string(),
        };
        crate::outln!("{:<24} {:<8} {:<40} {kept}", r.var, r.kind, r.reference);
    }
    Ok(0)
}
