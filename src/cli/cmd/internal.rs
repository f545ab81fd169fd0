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
    /// Watch a data copy's journal: when its process dies, unpause what it paused
    /// and remove what it half made (started detached by every copy).
    Thaw {
        /// The journal, under $KINFRA_HOME/data/ops/.
        journal: std::path::PathBuf,
    },
}

pub fn run(ctx: &Context, c: InternalCmd) -> crate::Result<i32> {
    match c {
        InternalCmd::RecordFootprint { id } => {
            crate::support::validate::project_name(&id).map_err(crate::Error::Invalid)?;
            crate::instance::budget::record(ctx, &id);
        }
        InternalCmd::Thaw { journal } => {
            if !crate::data::journal::is_journal_path(&ctx.home, &journal) {
                return Err(crate::Error::Invalid(format!(
                    "{} is not a data journal of this kinfra home",
                    journal.display()
                )));
            }
            crate::data::journal::watch(&journal);
        }
    }
    Ok(0)
}
