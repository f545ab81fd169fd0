//! Shared services: a compose stack started once for every instance of a project
//! (KTRDR's observability on its external network). `kinfra shared up|down|status`
//! manage them; an instance's `up` starts one that is not running and says so; an
//! instance's `down` or `destroy` never touches them.

use std::path::Path;

use serde::Serialize;

use crate::instance::error::{Error, Result};
use crate::stack::{SharedService, Stack};
use crate::state::context::Context;
use crate::tools::compose::{Compose, Project};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SharedState {
    pub name: String,
    pub project: String,
    /// Its containers that run, of all it has.
    pub running: usize,
    pub containers: usize,
}

impl SharedState {
    pub fn label(&self) -> String {
        match (self.running, self.containers) {
            (0, 0) => "not started".into(),
            (0, _) => "stopped".into(),
            (r, n) if r == n => format!("running ({r})"),
            (r, n) => format!("partly running ({r} of {n})"),
        }
    }
}

/// The shared services named (all when `names` is empty); an unknown name is an
/// error that lists the known ones.
pub fn select<'s>(stack: &'s Stack, names: &[String]) -> Result<Vec<&'s SharedService>> {
    crate::instance::lookup::pick(
        &stack.shared,
        names,
        |s| s.name.as_str(),
        "shared service",
        &stack.origin,
    )
}

/// One `docker ps` for all of them.
pub fn status(stack: &Stack) -> Result<Vec<SharedState>> {
    let all = crate::tools::docker::containers(None)?;
    Ok(stack
        .shared
        .iter()
        .map(|s| {
            let mine: Vec<_> = all.iter().filter(|c| c.project == s.project).collect();
            SharedState {
                name: s.name.clone(),
                project: s.project.clone(),
                running: mine.iter().filter(|c| c.running()).count(),
                containers: mine.len(),
            }
        })
        .collect())
}

/// Pure: why shared service `s` may not run as its compose project: the name is an
/// instance's (`ids`: every registered one, local-prod's included), so compose
/// `down` of it would stop that instance.
pub fn instance_clash<'a>(
    s: &SharedService,
    ids: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    ids.into_iter().find(|id| *id == s.project).map(|id| {
        format!(
            "shared service {}: its compose project {:?} is the instance {id}'s, so starting or stopping it would act on {id}; give it another `project` in kinfra.toml",
            s.name, s.project
        )
    })
}

/// The shared services named, for `shared up|down` (every path that starts or
/// stops one goes through here): refused, before anything is done, when one's
/// compose project is a registered instance's.
fn chosen<'s>(ctx: &Context, stack: &'s Stack, names: &[String]) -> Result<Vec<&'s SharedService>> {
    let chosen = select(stack, names)?;
    if chosen.is_empty() {
        return Ok(chosen);
    }
    let reg = ctx.registry().load()?;
    for s in &chosen {
        let ids = reg
            .instances
            .keys()
            .map(String::as_str)
            .chain(reg.local_prod.as_ref().map(|e| e.instance_id.as_str()))
            .chain([stack.local_prod_id.as_str()]);
        if let Some(why) = instance_clash(s, ids) {
            return Err(Error::SharedServiceClash { why });
        }
    }
    Ok(chosen)
}

fn project(s: &SharedService, dir: &Path) -> Result<Project> {
    let file =
        crate::support::fsutil::resolve_inside(dir, Path::new(&s.compose_file)).map_err(|why| {
            Error::SharedComposeOutside {
                name: s.name.clone(),
                file: s.compose_file.clone(),
                why,
            }
        })?;
    if !file.is_file() {
        return Err(Error::SharedComposeMissing {
            name: s.name.clone(),
            dir: dir.to_path_buf(),
            file: s.compose_file.clone(),
        });
    }
    let pdir = file.parent().unwrap_or(dir).to_path_buf();
    Ok(Project::new(&s.project, &file, &pdir))
}

/// Starts the ones named that are not all running, from the checkout `dir`. Returns
/// the names it started.
pub fn up(ctx: &Context, stack: &Stack, dir: &Path, names: &[String]) -> Result<Vec<String>> {
    let chosen = chosen(ctx, stack, names)?;
    if chosen.is_empty() {
        return Ok(Vec::new());
    }
    let compose = Compose::detect(&ctx.home)?;
    let states = status(stack)?;
    let mut started = Vec::new();
    for s in chosen {
        let st = states.iter().find(|st| st.name == s.name);
        if st.is_some_and(|st| st.running > 0 && st.running == st.containers) {
            continue;
        }
        // Two instances starting at once start it once.
        let _lock = crate::instance::lock(ctx, &s.project, "shared up")?;
        let p = project(s, dir)?;
        ctx.reporter.step(&format!(
            "Starting shared service {} (one for every instance, project {})",
            s.name, s.project
        ));
        compose
            .cmd(&p)
            .args(["up", "-d"])
            .run_streaming(|_| {})
            .map_err(|e| crate::instance::compose_error(&s.project, e))?;
        started.push(s.name.clone());
    }
    Ok(started)
}

/// Stops the ones named (their volumes stay). Returns the names it stopped.
pub fn down(ctx: &Context, stack: &Stack, dir: &Path, names: &[String]) -> Result<Vec<String>> {
    let chosen = chosen(ctx, stack, names)?;
    let compose = Compose::detect(&ctx.home)?;
    let states = status(stack)?;
    let mut stopped = Vec::new();
    for s in chosen {
        if states
            .iter()
            .any(|st| st.name == s.name && st.containers == 0)
        {
            continue;
        }
        let _lock = crate::instance::lock(ctx, &s.project, "shared down")?;
        let p = project(s, dir)?;
        ctx.reporter
            .step(&format!("Stopping shared service {}", s.name));
        compose
            .cmd(&p)
            .args(["down"])
            .run_streaming(|_| {})
            .map_err(|e| crate::instance::compose_error(&s.project, e))?;
        stopped.push(s.name.clone());
    }
    Ok(stopped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_service_never_runs_as_an_instances_project() {
        let s = SharedService {
            name: "obs".into(),
            compose_file: "obs.yaml".into(),
            project: "shop-prod".into(),
        };
        let why = instance_clash(&s, ["shop--a", "shop-prod"]).unwrap();
        assert!(
            why.contains("instance shop-prod") && why.contains("obs"),
            "{why}"
        );
        assert_eq!(instance_clash(&s, ["shop--a", "other"]), None);
        assert_eq!(instance_clash(&s, []), None);
    }
}
