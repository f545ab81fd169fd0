//! `kinfra internal …`: steps kinfra starts itself, not meant for people (hidden
//! from `--help`).

use crate::context::Context;

#[derive(Debug, clap::Subcommand)]
pub enum InternalCmd {
    /// Measure a started instance's memory and record it for the machine budget
    /// (started detached by `up`, so its caller need not wait for the engine).
    RecordFootprint {
        /// The instance (compose project name).
        id: String,
    },
}

pub fn run(ctx: &Context, c: InternalCmd) -> crate::Result<i32> {
    match c {
        InternalCmd::RecordFootprint { id } => {
            crate::validate::project_name(&id).map_err(crate::Error::Invalid)?;
            crate::budget::record(ctx, &id);
        }
    }
    Ok(0)
}
