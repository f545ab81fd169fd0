//! One consistent copy of a set of volumes into another set, inside the engine
//! (volumes are not on the Mac's disk): a helper container from an image already
//! present mounts both; the sources' writers are paused together for the copy
//! alone, then unpaused. Copy-on-write (`cp --reflink=always`) where the engine's
//! filesystem has it, a plain `cp -a` otherwise, checked for space first.
//!
//! Every step is recorded in a [`Journal`] before it is taken, and undone on
//! failure, Ctrl-C or the death of this process.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::engine;
use super::journal::{self, Journal};
use super::plan::{self, Probe};
use crate::data::error::{DataError, Result};
use crate::state::context::Context;

/// One volume to copy: from `from` into `to`, which is created with `labels` when
/// `create` (else it exists and is emptied first: a reset).
#[derive(Debug, Clone)]
pub struct Pair {
    pub from: String,
    pub to: String,
    pub create: Option<Vec<(&'static str, String)>>,
}

/// What to copy, and what to pause while copying.
#[derive(Debug, Clone, Default)]
pub struct Job {
    pub pairs: Vec<Pair>,
    /// Running containers that write the sources: paused together for the copy.
    pub freeze: Vec<String>,
    /// Images to run the helper from, in order of preference: those of the
    /// source's containers (so present); then fallbacks, tried only if present
    /// (nothing is pulled).
    pub images: Vec<String>,
    /// Pairs copied from their running Postgres with `pg_basebackup` (`--online`),
    /// not by files: their server is not paused.
    pub online: Vec<Online>,
}

/// One pair (by index in [`Job::pairs`]) copied online from the Postgres server
/// in `container`, whose data directory is at `rel` inside the volume.
#[derive(Debug, Clone)]
pub struct Online {
    pub index: usize,
    pub container: String,
    pub rel: String,
    pub server: plan::PgServer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The filesystem shares blocks between the copies (XFS reflink, btrfs).
    CopyOnWrite,
    /// Every byte copied.
    Plain,
}

impl Method {
    pub fn label(self) -> &'static str {
        match self {
            Method::CopyOnWrite => "copy-on-write (reflink)",
            Method::Plain => "plain copy",
        }
    }
}

/// What a copy did.
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    pub method: Method,
    pub bytes: u64,
    /// How long the sources' writers were paused (none when nothing ran).
    pub paused_ms: Option<u64>,
    pub millis: u64,
    pub image: String,
    /// Volumes copied online from their running Postgres (`pg_basebackup`, no
    /// pause); `method` is how the others were copied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub online: Vec<String>,
}

/// Images that carry `sh`, `cp`, `du`, `df` and `sleep` on any Docker machine
/// (tried after the stack's own).
const FALLBACK_IMAGES: [&str; 5] = ["busybox:1.35", "busybox", "alpine", "debian", "ubuntu"];

const PROBE: &str = r#"
set -e
p=/to/0/.kinfra-probe.$$
r=no
if ! cp --help 2>&1 | grep -q reflink; then r=nocp
elif echo x > "$p" 2>/dev/null && cp --reflink=always "$p" "$p.2" 2>/dev/null; then r=yes; fi
rm -f "$p" "$p.2"
echo "reflink $r"
for d in /from/*; do set -- $(du -sk "$d"); echo "need ${d#/from/} $1"; done
set -- $(df -Pk /to/0 | tail -n 1)
echo "free $4"
"#;

/// The file copy of the pairs numbered `indices`.
fn copy_script(reflink: bool, indices: &[usize]) -> String {
    let cp = if reflink {
        "cp -a --reflink=always"
    } else {
        "cp -a"
    };
    // A copy that fails empties what it wrote before the writers are unpaused:
    // on a disk it filled, Docker cannot record the unpause (`docker ps` would
    // show the source paused while it runs).
    format!(
        r#"
set -e
{empty}
touched=
for i in {list}; do
  d=/to/$i
  touched="$touched $d"
  empty "$d"
  if ! {cp} /from/$i/. "$d"/; then
    for t in $touched; do empty "$t"; done
    exit 1
  fi
done

echo copied
"#,
        empty = engine::EMPTY_FN,
        list = indices
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    )
}

/// Finishes the undo of copies that died, or failed while Docker was down,
/// before a data command reads the volumes: a half-made volume is gone before its
/// name is checked again.
pub fn recover(ctx: &Context) {
    for s in journal::recover_stale(&ctx.home) {
        ctx.reporter.warn(&s);
    }
}

/// Copies `job`'s volumes. On any failure or interrupt: sources unpaused, helper
/// removed, volumes this call created removed; the error returned.
pub fn run(ctx: &Context, job: &Job) -> Result<Copied> {
    recover(ctx);
    crate::state::context::catch_interrupts();
    let mut j = Journal::begin(&ctx.home)?;
    journal::spawn_watchdog(&ctx.home, &j);
    let out = copy_with(ctx, job, &mut j);
    if out.is_err() {
        for s in j.undo() {
            ctx.reporter.info(&s);
        }
        if crate::state::context::interrupted() {
            return Err(DataError::interrupted());
        }
    } else {
        j.end();
    }
    out
}

fn copy_with(ctx: &Context, job: &Job, j: &mut Journal) -> Result<Copied> {
    let started = Instant::now();
    for p in &job.pairs {
        if let Some(labels) = &p.create {
            // Recorded before it exists: a death between the two leaves a name
            // that undo finds missing, never a volume that outlives the copy.
            j.created.push(p.to.clone());
            j.save()?;
            // The operation's label: what lets undo prove the volume is this copy's.
            let mut labels = labels.clone();
            labels.push((crate::tools::docker::OP_LABEL, j.op()));
            engine::create_volume(&p.to, &labels)?;
        }
    }
    crate::state::context::pause_point("data:volumes");
    let pairs: Vec<(String, String)> = job
        .pairs
        .iter()
        .map(|p| (p.from.clone(), p.to.clone()))
        .collect();
    let (image, probe) = start_helper(job, &pairs, j)?;
    let streamed: Vec<usize> = job.online.iter().map(|o| o.index).collect();
    if !probe.fits(&streamed) {
        return Err(DataError::NoSpace {
            need: probe.writes_kib(&streamed) * 1024,
            free: probe.free_kib * 1024,
        });
    }
    check_interrupt()?;
    let method = if probe.reflink {
        Method::CopyOnWrite
    } else {
        Method::Plain
    };
    let helper = j.helper.clone().unwrap_or_default();
    let bytes = probe.need_kib() * 1024;
    // A streamed copy writes every byte even on copy-on-write storage.
    let progress = (bytes > 256 << 20 && (!probe.reflink || !job.online.is_empty()))
        .then(|| ctx.reporter.bytes(bytes, "copying data"));
    let online = copy_online(job, &helper, progress.as_deref())?;
    let files: Vec<usize> = (0..job.pairs.len())
        .filter(|i| !job.online.iter().any(|o| o.index == *i))
        .collect();
    let paused_ms = if files.is_empty() {
        None
    } else {
        let script = copy_script(probe.reflink, &files);
        copy_files(job, j, &helper, &script, progress.as_deref())?
    };
    if let Some(p) = progress {
        p.finish();
    }
    check_interrupt()?;
    crate::state::context::pause_point("data:copied");
    // Removed before returning: the new volumes are free for `rm` or `up` at once.
    let _ = engine::remove_helper(&helper, &j.op());
    j.helper = None;
    j.save()?;
    Ok(Copied {
        method,
        bytes,
        paused_ms,
        millis: started.elapsed().as_millis() as u64,
        image,
        online,
    })
}

/// The `--online` pairs, each streamed from its running server (not paused).
/// Returns the volumes so copied.
fn copy_online(
    job: &Job,
    helper: &str,
    progress: Option<&dyn crate::state::context::Progress>,
) -> Result<Vec<String>> {
    let mut online = Vec::new();
    for o in &job.online {
        crate::state::context::pause_point("data:online");
        watched(helper, progress, || {
            engine::basebackup(
                &o.container,
                helper,
                o.index,
                &o.rel,
                &o.server,
                crate::state::context::interrupted,
            )
        })?;
        check_interrupt()?;
        online.push(job.pairs[o.index].to.clone());
    }
    Ok(online)
}

/// The file copy, with the writers paused for it alone when there are any;
/// how long they were.
fn copy_files(
    job: &Job,
    j: &mut Journal,
    helper: &str,
    script: &str,
    progress: Option<&dyn crate::state::context::Progress>,
) -> Result<Option<u64>> {
    if job.freeze.is_empty() {
        copy_watched(helper, script, progress)?;
        return Ok(None);
    }
    j.paused = job.freeze.clone();
    j.save()?;
    let t = Instant::now();
    engine::pause(&job.freeze)?;
    crate::state::context::pause_point("data:paused");
    let copied = copy_watched(helper, script, progress);
    // Unpaused before anything else happens, failure or not.
    let thawed = engine::unpause(&job.freeze);
    let paused_ms = t.elapsed().as_millis() as u64;
    if thawed.is_ok() {
        // Kept otherwise: the undo, or the next data command, tries again.
        j.paused.clear();
        j.save()?;
    }
    copied?;
    thawed?;
    Ok(Some(paused_ms))
}

fn check_interrupt() -> Result<()> {
    if crate::state::context::interrupted() {
        Err(DataError::interrupted())
    } else {
        Ok(())
    }
}

/// The helper from the first image that has what the scripts need, and its probe.
/// An image whose `cp` cannot reflink (busybox's) is kept only until one that can
/// answers: on a copy-on-write filesystem that one shares the blocks.
fn start_helper(job: &Job, pairs: &[(String, String)], j: &mut Journal) -> Result<(String, Probe)> {
    let mut tried = Vec::new();
    let mut fallback: Option<(String, Probe)> = None;
    let mut seen = std::collections::BTreeSet::new();
    let candidates = job
        .images
        .iter()
        .map(String::as_str)
        .chain(FALLBACK_IMAGES)
        .filter(|i| seen.insert(i.to_string()))
        .collect::<Vec<_>>();
    for (n, image) in candidates.into_iter().enumerate() {
        // The stack's own are the images of its containers, so they are there
        // (one docker call less on every copy); a fallback is looked for first.
        if !job.images.iter().any(|i| i == image) && !engine::has_image(image) {
            continue;
        }
        let name = format!("kinfra-copy-{}-{n}", j.pid);
        j.helper = Some(name.clone());
        j.save()?;
        if let Err(e) = engine::start_helper(&name, &j.op(), image, pairs) {
            let _ = engine::remove_helper(&name, &j.op());
            tried.push(format!("{image}: {e}"));
            continue;
        }
        match engine::helper_sh(&name, PROBE, Duration::from_secs(600))
            .map(|o| plan::parse_probe(&o))
        {
            Ok(Some(p)) if !p.cp_lacks_reflink => return Ok((image.to_string(), p)),
            Ok(Some(p)) => {
                // Removed meanwhile: the journal names one helper at a time.
                if fallback.is_none() {
                    fallback = Some((image.to_string(), p));
                }
            }
            Ok(None) => tried.push(format!("{image}: its tools printed something else")),
            Err(e) => tried.push(format!("{image}: {e}")),
        }
        let _ = engine::remove_helper(&name, &j.op());
    }
    if let Some((image, p)) = fallback {
        let name = format!("kinfra-copy-{}-fallback", j.pid);
        j.helper = Some(name.clone());
        j.save()?;
        engine::start_helper(&name, &j.op(), &image, pairs)?;
        return Ok((image, p));
    }
    j.helper = None;
    Err(DataError::NoCopyImage {
        tried: if tried.is_empty() {
            "no image present".into()
        } else {
            tried.join("; ")
        },
    })
}

/// Runs the file copy; a progress bar follows the targets' size on long copies.
fn copy_watched(
    helper: &str,
    script: &str,
    progress: Option<&dyn crate::state::context::Progress>,
) -> Result<()> {
    watched(helper, progress, || {
        confirm(&engine::helper_sh(
            helper,
            script,
            Duration::from_secs(24 * 3600),
        )?)
    })
}

/// Runs `work`; with `progress`, a bar follows the size of the helper's targets.
fn watched(
    helper: &str,
    progress: Option<&dyn crate::state::context::Progress>,
    work: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let Some(p) = progress else {
        return work();
    };
    let done = std::sync::atomic::AtomicBool::new(false);
    let engine = crate::tools::docker::EngineScope::current();
    std::thread::scope(|s| {
        s.spawn(|| {
            let _engine = engine.enter();
            // Once a second from the first: each poll is a docker call, which
            // competes with the copy for the CPU on a small machine.
            let mut waited = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
                waited += 50;
                if waited % 1000 != 0 {
                    continue;
                }
                if let Ok(o) =
                    engine::helper_sh(helper, "du -sk /to | cut -f1", Duration::from_secs(30))
                    && let Ok(k) = o.trim().parse::<u64>()
                {
                    p.set_position(k * 1024);
                }
            }
        });
        let out = work();
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    })
}

fn confirm(out: &str) -> Result<()> {
    if out.lines().any(|l| l.trim() == "copied") {
        Ok(())
    } else {
        Err(DataError::HelperUnfinished { what: "its copy" })
    }
}
