use crate::stack::Stack;
use std::path::PathBuf;

use crate::instance::shared::data::{self as shared_data, Mode};
use crate::state::context::Context;
use crate::support::units::human_bytes;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "With neither flag, existing content is reported and left alone. \
Copies never overwrite files already there."
)]
pub struct Args {
    /// Copy data/, models/ and strategies/ from an existing checkout.
    #[arg(long, value_name = "PATH", conflicts_with = "minimal")]
    pub from: Option<PathBuf>,
    /// Create the empty directory structure.
    #[arg(long)]
    pub minimal: bool,
}

pub fn run(ctx: &Context, stack: &Stack, a: Args) -> crate::cli::error::CliResult<i32> {
    let mode = match (a.from, a.minimal) {
        (Some(p), _) => Mode::From(p),
        (None, true) => Mode::Minimal,
        (None, false) => Mode::Report,
    };
    let s = shared_data::init(ctx, stack, &mode)?;
    let root = ctx.shared_dir();
    if s.dirs.is_empty() {
        crate::outln!("No shared data at {}.", root.display());
        crate::outln!("Create it with `kinfra sandbox init-shared --minimal` or `--from PATH`.");
        return Ok(0);
    }
    if s.copied_files > 0 || s.skipped_existing > 0 {
        crate::outln!(
            "Copied {} file(s) ({}); {} already present and kept.",
            s.copied_files,
            human_bytes(s.copied_bytes),
            s.skipped_existing
        );
    }
    crate::outln!("Shared data at {}:", root.display());
    for (name, files, bytes) in &s.dirs {
        crate::outln!("  {name:<11} {files} file(s), {}", human_bytes(*bytes));
    }
    Ok(0)
}
