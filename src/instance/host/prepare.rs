//! Prepare steps: what must exist before compose starts anything. An image the
//! compose file uses without a build section (KTRDR's `ktrdr-agent:dev`) is built
//! when it is missing; a command of the repository runs once allowed. Output is
//! streamed under the step; a failure stops `up` before anything starts.

use std::path::Path;

use crate::instance::error::{Error, Result};
use crate::stack::{PrepareAction, Stack};
use crate::state::context::Context;
use crate::support::exec::Cmd;

/// Whether the engine has the image (`docker image inspect`).
fn image_present(image: &str) -> bool {
    Cmd::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", "--", image])
        .timeout(std::time::Duration::from_secs(30))
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs the stack's prepare steps in the checkout `dir` (main clone `clone` for the
/// consent record). Returns the names of the steps that did something.
pub fn run(ctx: &Context, stack: &Stack, dir: &Path, clone: &Path) -> Result<Vec<String>> {
    if stack
        .prepare
        .iter()
        .any(|p| matches!(p.action, PrepareAction::Command(_)))
    {
        super::allow::require(ctx, clone, stack)?;
    }
    let r = &ctx.reporter;
    let mut done = Vec::new();
    for p in &stack.prepare {
        let fail = |detail: String| Error::PrepareFailed {
            name: p.name.clone(),
            detail,
        };
        let cmd = match &p.action {
            PrepareAction::Image {
                image,
                dockerfile,
                context,
            } => {
                if image_present(image) {
                    continue;
                }
                for f in [dockerfile, context] {
                    crate::support::fsutil::resolve_inside(dir, Path::new(f))
                        .map_err(|why| fail(format!("{f}: {why}")))?;
                }
                if !dir.join(dockerfile).is_file() {
                    return Err(fail(format!(
                        "{dockerfile} is not in {} (the image {image} is missing and this step builds it)",
                        dir.display()
                    )));
                }
                r.step(&format!("Preparing {}: building {image} (missing)", p.name));
                Cmd::new("docker")
                    .args(["build", "-t", image, "-f", dockerfile, "--", context])
                    .current_dir(dir)
            }
            PrepareAction::Command(argv) => {
                r.step(&format!("Preparing {}", p.name));
                Cmd::new(&argv[0]).args(&argv[1..]).current_dir(dir)
            }
        };
        let live = r.live(&p.name);
        let mut last = std::collections::VecDeque::new();
        let res = cmd.run_merged(|line| {
            live.set_message(line);
            if last.len() == 12 {
                last.pop_front();
            }
            last.push_back(line.to_string());
        });
        live.finish();
        let compact = live.compact();
        drop(live);
        if let Err(e) = res {
            // On a terminal the step was one line redrawn: its last lines again.
            if compact {
                for l in &last {
                    r.info(&format!("  {l}"));
                }
            }
            return Err(fail(match e.not_found() {
                Some(prog) => format!("{prog} is not installed"),
                None => "it exited with an error".into(),
            }));
        }
        done.push(p.name.clone());
    }
    Ok(done)
}
