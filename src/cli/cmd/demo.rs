use std::path::PathBuf;

use crate::cli::error::{CliError, CliResult as Result};
use crate::instance::error::Error;
use crate::state::context::Context;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Builds a KTRDR-shaped repository from the embedded demo stack (with a \
local bare `origin`), then: local-prod init, up with the startability gate, status, a sandbox \
created and started beside it, list, and teardown. Uses its own KINFRA_HOME inside the demo \
directory, so your registry is not touched. Needs Docker and the demo image \
(scripts/demo-image.sh builds it offline)."
)]
pub struct Args {
    /// Directory to run in (default: a new temporary directory, removed at the end).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Leave the instances running and the directory in place.
    #[arg(long)]
    pub keep: bool,
}

pub fn run(outer: &Context, a: Args) -> Result<i32> {
    crate::tools::docker::ping()?;
    if !crate::setup::demo::image_present() {
        return Err(CliError::DemoImageMissing {
            image: crate::setup::demo::IMAGE,
        });
    }
    // A temporary directory is removed when `_temp` drops, unless --keep.
    let (root, _temp) = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).map_err(|e| Error::io("could not create", d, e))?;
            (
                std::fs::canonicalize(d).map_err(|e| Error::io("cannot use", d, e))?,
                None,
            )
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("kinfra-demo-")
                .tempdir()
                .map_err(|e| Error::io("could not create a temporary directory", "/tmp", e))?;
            if a.keep {
                (t.keep(), None)
            } else {
                (t.path().to_path_buf(), Some(t))
            }
        }
    };
    let home = crate::state::home::Home::at(root.join("kinfra-home"));
    let base = Context {
        home,
        cwd: root.clone(),
        ..outer.clone()
    };
    let r = &outer.reporter;
    r.step(&format!(
        "Demo in {} (KINFRA_HOME={})",
        root.display(),
        base.home.display()
    ));
    let origin = crate::setup::demo::make_origin(&root)?;
    let prod_dir = root.join("ktrdr-prod");
    crate::setup::demo::clone(&origin, &prod_dir)?;
    r.info(&format!(
        "cloned {} -> {}",
        origin.display(),
        prod_dir.display()
    ));

    let result = crate::setup::tour::run(&base, &prod_dir, &mut show);
    if a.keep {
        r.info(&format!(
            "kept: {} (KINFRA_HOME={})",
            root.display(),
            base.home.display()
        ));
        return result.map(|_| 0).map_err(CliError::from);
    }
    let torn = crate::setup::tour::tear_down(&base, &prod_dir);
    result?;
    let (d1, d2) = torn?;
    r.success(&format!(
        "Demo complete: destroyed {} (worktree deleted: {}) and {} (clone kept at {})",
        d1.instance_id,
        d1.directory_deleted,
        d2.instance_id,
        d2.path.display()
    ));
    Ok(0)
}

/// Prints what a step of the tour shows, as the command of that name would.
fn show(s: crate::setup::tour::Shown<'_>) {
    use crate::setup::tour::Shown;
    match s {
        Shown::Ports(inst) => super::print_ports(&crate::stack::KTRDR, inst),
        Shown::Status(s) => {
            crate::outln!("{} ({}): {}", s.instance_id, s.kind, s.state);
            for svc in &s.services {
                crate::outln!(
                    "    {:<20} {} {}",
                    svc.service,
                    svc.state,
                    svc.health.as_deref().unwrap_or("")
                );
            }
        }
        Shown::List(rows) => {
            for row in rows {
                crate::outln!(
                    "  {:<3} {:<14} {:<10} API {:<5} {}",
                    row.slot,
                    row.instance_id,
                    row.state,
                    row.api_port.unwrap_or(0),
                    row.path
                );
            }
        }
    }
}
