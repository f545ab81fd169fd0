//! `kinfra internal …`: steps kinfra starts itself, not meant for people (hidden
//! from `--help`).

use crate::state::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum InternalCmd {
    /// Measure a started instance's memory and record it for the machine budget
    /// (started detached by `up`, so its caller need not wait for the engine).
    RecordFootprint {
        /// The instance (compose project name).
        id: String,
    },
    /// Keep a remote instance's code mirrored and its ports forwarded while it is up
    /// (started detached by `up` on another machine's engine).
    KeepMirrored {
        /// The instance (compose project name).
        id: String,
        /// The token its keeper file must hold for it to go on.
        token: String,
    },
    /// Watch a data copy's journal: when its process dies, unpause what it paused
    /// and remove what it half made (started detached by every copy).
    Thaw {
        /// The journal, under $KINFRA_HOME/data/ops/.
        journal: std::path::PathBuf,
    },
}

pub fn run(ctx: &Context, c: InternalCmd) -> crate::cli::error::CliResult<i32> {
    match c {
        InternalCmd::RecordFootprint { id } => {
            crate::support::validate::project_name(&id)
                .map_err(|why| crate::cli::error::CliError::BadInstanceId { why })?;
            crate::instance::placement::budget::record(ctx, &id);
        }
        InternalCmd::KeepMirrored { id, token } => {
            crate::support::validate::project_name(&id)
                .map_err(|why| crate::cli::error::CliError::BadInstanceId { why })?;
            crate::engine::keeper::keep_mirrored(ctx, &id, &token);
        }
        InternalCmd::Thaw { journal } => {
            if !crate::data::journal::is_journal_path(&ctx.home, &journal) {
                return Err(crate::cli::error::CliError::NotAJournal { path: journal });
            }
            crate::data::journal::watch(&journal);
        }
    }
    Ok(0)
}
