//! Undoing a failed start: what Docker held before `up` is kept, what this start
//! created goes (volumes only when they are new and hold nothing from before).

use super::*;

/// Docker's state of the project before this command changed it.
pub(super) struct Before {
    pub(super) containers: Vec<docker::Container>,
    /// `None` when Docker could not say: then no volume counts as new.
    pub(super) volumes: Option<Vec<String>>,
    pub(super) networks: Option<Vec<String>>,
}

impl Before {
    pub(super) fn take(containers: Vec<docker::Container>, project: &str) -> Before {
        let engine = docker::EngineScope::current();
        let (volumes, networks) = std::thread::scope(|s| {
            let nets = s.spawn(|| {
                let _engine = engine.enter();
                docker::networks(project).ok()
            });
            (docker::volumes(project).ok(), nets.join().ok().flatten())
        });
        Before {
            containers,
            volumes,
            networks,
        }
    }
}

/// What undoing a failed start will do: pure, from the states before and after.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Undo {
    /// Containers this command created.
    pub(super) remove: Vec<String>,
    /// Containers that existed stopped and this command started.
    pub(super) stop: Vec<String>,
    /// Volumes and networks this command created (nothing in them is lost).
    pub(super) volumes: Vec<String>,
    pub(super) networks: Vec<String>,
    /// Volumes that existed before: never removed here.
    pub(super) kept_volumes: Vec<String>,
    /// Containers that were running before the command and are left running.
    pub(super) left_running: usize,
}

pub(super) fn plan_undo(
    before: &Before,
    now: &[docker::Container],
    volumes_now: &[String],
    networks_now: &[String],
) -> Undo {
    let mut u = Undo::default();
    for c in now {
        match before.containers.iter().find(|b| b.id == c.id) {
            None => u.remove.push(c.id.clone()),
            Some(b) if c.running() && !b.running() => u.stop.push(c.id.clone()),
            Some(b) if b.running() => u.left_running += 1,
            Some(_) => {}
        }
    }
    for v in volumes_now {
        match &before.volumes {
            Some(old) if !old.contains(v) => u.volumes.push(v.clone()),
            _ => u.kept_volumes.push(v.clone()),
        }
    }
    // A network goes only with every container that could use it.
    if u.remove.len() == now.len() && before.containers.is_empty() {
        u.networks = networks_now
            .iter()
            .filter(|n| before.networks.as_ref().is_some_and(|old| !old.contains(n)))
            .cloned()
            .collect();
    }
    u
}

pub(super) fn undo_failed_start(ctx: &Context, inst: &Instance, opts: &UpOptions, before: &Before) {
    let r = &ctx.reporter;
    if opts.keep_on_failure {
        r.info("containers left as they are for debugging (--keep-on-failure); `down` stops them");
        return;
    }
    r.step("Undoing what this start did (volumes that held data before are kept)");
    // On another machine's engine: its keeper and forwards go too (a forward left
    // behind would accept connections and answer them with nothing, and the keeper
    // would go on mirroring for a sandbox that is not up). A later `up` starts both.
    if let Ok(Some(e)) = crate::engine::remote::placement(ctx, inst.id()) {
        // The failure may be the engine's connection dropping (and its forwarded
        // Docker socket with it): made again first, so that what this start
        // created there can be removed.
        if !crate::engine::remote::reenter(ctx, &e) {
            r.warn(&format!("the engine {} does not answer now", e.name));
        }
        crate::engine::remote::stop_keeper(ctx, inst.id());
        let ports: Vec<u16> = inst.env.ports.iter().map(|(_, p)| *p).collect();
        crate::engine::remote::unforward(ctx, &e, &ports);
    }
    let result = (|| -> Result<Undo> {
        let now: Vec<docker::Container> = docker::containers(Some(inst.id()))?
            .into_iter()
            .filter(|c| docker::started_from(c, &inst.dir))
            .collect();
        let u = plan_undo(
            before,
            &now,
            &docker::volumes(inst.id())?,
            &docker::networks(inst.id())?,
        );
        docker::remove_containers(&u.remove)?;
        docker::stop_containers(&u.stop)?;
        docker::remove_volumes(&u.volumes)?;
        docker::remove_networks(&u.networks)?;
        Ok(u)
    })();
    match result {
        Ok(u) => {
            let mut done = Vec::new();
            if !u.remove.is_empty() {
                done.push(format!("removed {} new container(s)", u.remove.len()));
            }
            if !u.stop.is_empty() {
                done.push(format!("stopped {} container(s)", u.stop.len()));
            }
            if !u.volumes.is_empty() {
                done.push(format!("removed {} new volume(s)", u.volumes.len()));
            }
            if u.left_running > 0 {
                done.push(format!(
                    "left {} container(s) running that were running before",
                    u.left_running
                ));
            }
            if !done.is_empty() {
                r.info(&done.join("; "));
            }
            if !u.kept_volumes.is_empty() {
                r.info(&format!(
                    "kept (data from before this start): volume(s) {}",
                    u.kept_volumes.join(", ")
                ));
            }
        }
        Err(e) => r.warn(&format!(
            "could not undo the failed start ({e}); no volume was removed"
        )),
    }
}
