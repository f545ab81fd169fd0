//! The docker calls data branches make: volumes with their labels, the copy
//! helper container, pause and unpause. Parsing lives in [`super::plan`].

use std::time::Duration;

use super::plan::{self, VolumeRow};
use crate::data::error::Result;
use crate::tools::docker::{Object, Removal, classify, docker, remove_if_labelled};

const WAIT: Duration = Duration::from_secs(60);

/// A shell function for the copy scripts: `empty DIR` removes what DIR holds, dot
/// files included, and leaves DIR (a volume's root cannot go).
pub const EMPTY_FN: &str =
    r#"empty() { rm -rf "$1"/* "$1"/.[!.]* "$1"/..?* 2>/dev/null || true; }"#;

/// Runs `f` on a thread of its own whose docker calls go to `e` (`None`: this
/// machine's engine), after a fast check that it answers: a look at another
/// engine's volumes (`snapshot list`, finding a snapshot where its record says it
/// lives) never moves the calling command's own docker calls (the engine is a
/// thread's scope, [`crate::tools::docker::EngineScope`]).
pub fn on_engine<T: Send>(
    e: Option<&crate::engine::Engine>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    std::thread::scope(|s| {
        let h = s.spawn(|| {
            let _here = crate::tools::docker::EngineScope::this_machine().enter();
            if let Some(e) = e {
                crate::engine::remote::enter(e)?;
            }
            f()
        });
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Every volume the engine has, with the labels kinfra reads.
pub fn volumes() -> Result<Vec<VolumeRow>> {
    crate::tools::docker::precheck()?;
    let out = docker()
        .args(["volume", "ls", "--format"])
        .arg(plan::volume_format())
        .timeout(WAIT)
        .run()
        .map_err(classify)?;
    Ok(plan::parse_volumes(&out))
}

/// Creates an empty local volume with `labels`.
pub fn create_volume(name: &str, labels: &[(&str, String)]) -> Result<()> {
    let mut c = docker().args(["volume", "create"]);
    for (k, v) in labels {
        c = c.arg("--label").arg(format!("{k}={v}"));
    }
    c.arg("--")
        .arg(name)
        .timeout(WAIT)
        .run()
        .map_err(classify)?;
    Ok(())
}

/// Removes the volumes `names` that carry every label of `required` (a missing
/// one is not an error); those that do not are left, each (name, why) in the
/// `Ok` list. Docker not answering is the error (what was not removed yet stays
/// to do).
pub fn remove_owned_volumes(
    names: &[String],
    required: &[(&str, &str)],
) -> Result<Vec<(String, String)>> {
    let mut refused = Vec::new();
    for n in names {
        if let Removal::Refused(why) = remove_if_labelled(Object::Volume, n, required)? {
            refused.push((n.clone(), why));
        }
    }
    Ok(refused)
}

/// A container of a project, with what it mounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub id: String,
    pub running: bool,
    pub paused: bool,
    pub image: String,
    pub mounts: Vec<String>,
}

/// Pure: `docker ps -a --no-trunc --format '{{.ID}}\t{{.State}}\t{{.Image}}\t{{.Mounts}}'`.
pub fn parse_holders(text: &str) -> Vec<Holder> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            if f.len() != 4 || f[0].is_empty() {
                return None;
            }
            Some(Holder {
                id: f[0].into(),
                running: f[1] == "running" || f[1] == "paused",
                paused: f[1] == "paused",
                image: f[2].into(),
                mounts: f[3]
                    .split(',')
                    .map(str::trim)
                    .filter(|m| !m.is_empty())
                    .map(String::from)
                    .collect(),
            })
        })
        .collect()
}

/// The containers of compose project `project` (any state).
pub fn holders(project: &str) -> Result<Vec<Holder>> {
    let out = docker()
        .args(["ps", "-a", "--no-trunc", "--filter"])
        .arg(format!("label={}={project}", plan::COMPOSE_PROJECT))
        .args(["--format", "{{.ID}}\t{{.State}}\t{{.Image}}\t{{.Mounts}}"])
        .timeout(WAIT)
        .run()
        .map_err(classify)?;
    Ok(parse_holders(&out))
}

/// Whether an image is present (never pulls).
pub fn has_image(image: &str) -> bool {
    docker()
        .args(["image", "inspect", "--format", "{{.Id}}", "--"])
        .arg(image)
        .timeout(WAIT)
        .run()
        .is_ok()
}

/// `docker pause` (all at once: one call, so the volumes they write stop together).
pub fn pause(ids: &[String]) -> Result<()> {
    match docker().arg("pause").args(ids).timeout(WAIT).run() {
        Ok(_) => Ok(()),
        // The kernel could not freeze a cgroup at that instant (a process in an
        // uninterruptible wait on a busy machine): a moment later it usually can.
        // Each is tried again on its own; one paused by the first call stays so.
        Err(e) if e.stderr().contains("unable to freeze") => {
            for id in ids {
                let mut tries = 0u32;
                loop {
                    match docker().args(["pause", id]).timeout(WAIT).run() {
                        Ok(_) => break,
                        Err(e) if e.stderr().contains("is already paused") => break,
                        Err(e) if e.stderr().contains("unable to freeze") && tries < 4 => {
                            tries += 1;
                            std::thread::sleep(Duration::from_millis(250 * u64::from(tries)));
                        }
                        Err(e) => return Err(classify(e).into()),
                    }
                }
            }
            Ok(())
        }
        Err(e) => Err(classify(e).into()),
    }
}

/// `docker unpause`; each is tried. One already running, or gone (a Docker
/// restart stops paused containers), is not an error: nothing is left paused.
pub fn unpause(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    match docker().arg("unpause").args(ids).timeout(WAIT).run() {
        Ok(_) => Ok(()),
        Err(e) if not_paused(e.stderr()) => {
            // Some were: unpause them one by one.
            for id in ids {
                match docker().args(["unpause", id]).timeout(WAIT).run() {
                    Err(e) if !not_paused(e.stderr()) => return Err(classify(e).into()),
                    _ => {}
                }
            }
            Ok(())
        }
        Err(e) => Err(classify(e).into()),
    }
}

/// Of `names`, those that are compose's containers (a project label), the only
/// kind a copy pauses, and those that exist but are not (or are names Docker
/// cannot have made). A journal is a file anyone can write, and a pause leaves no
/// label to prove who made it, so undo unpauses nothing else (a container someone
/// paused by hand stays paused). A name that is gone is in neither.
pub fn compose_containers(names: &[String]) -> (Vec<String>, Vec<String>) {
    let (names, bad): (Vec<&String>, Vec<&String>) = names
        .iter()
        .partition(|n| crate::support::validate::volume_key(n).is_ok());
    let mut others: Vec<String> = bad.into_iter().cloned().collect();
    if names.is_empty() {
        return (Vec::new(), others);
    }
    // Missing ones make docker fail, but it still prints the ones it found.
    let out = docker()
        .args([
            "inspect",
            "--type",
            "container",
            "--format",
            "{{.Id}}\t{{.Name}}\t{{index .Config.Labels \"com.docker.compose.project\"}}",
            "--",
        ])
        .args(names.iter().map(|n| n.as_str()))
        .timeout(WAIT)
        .output()
        .map(|o| o.stdout)
        .unwrap_or_default();
    let mut ours = Vec::new();
    for c in plan::container_projects(&out) {
        // A copy records ids; a record may name a container: either is the one.
        let Some(asked) = names
            .iter()
            .find(|m| **m == &c.name || (m.len() >= 12 && c.id.starts_with(m.as_str())))
        else {
            continue; // answered for another object: not one named
        };
        if c.compose {
            ours.push((*asked).clone());
        } else {
            others.push((*asked).clone());
        }
    }
    (ours, others)
}

/// docker's answer for a container that is no longer paused, or no longer there.
fn not_paused(stderr: &str) -> bool {
    stderr.contains("is not paused")
        || stderr.contains("No such container")
        || stderr.contains("no such container")
        || stderr.contains("is not running")
}

pub fn stop(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    docker()
        .arg("stop")
        .args(ids)
        .timeout(Duration::from_secs(120))
        .run()
        .map_err(classify)?;
    Ok(())
}

pub fn start(ids: &[String]) -> Result<()> {
    if ids.is_empty() {
        return Ok(());
    }
    docker()
        .arg("start")
        .args(ids)
        .timeout(Duration::from_secs(120))
        .run()
        .map_err(classify)?;
    Ok(())
}

/// Starts the copy helper: `image` with the sources read-only at `/from/N` and the
/// targets at `/to/N`, no network, idle until told what to run.
pub fn start_helper(name: &str, op: &str, image: &str, pairs: &[(String, String)]) -> Result<()> {
    let mut c = docker().args([
        "run",
        "-d",
        "--rm",
        "--network",
        "none",
        "--user",
        "0",
        "--label",
        "dev.kinfra.helper=copy",
        "--name",
        name,
        "--entrypoint",
        "sleep",
    ]);
    // What proves, when it is removed, that this copy made it.
    c = c
        .arg("--label")
        .arg(format!("{}={op}", crate::tools::docker::OP_LABEL));
    for (i, (from, to)) in pairs.iter().enumerate() {
        c = c
            .arg("-v")
            .arg(format!("{from}:/from/{i}:ro"))
            .arg("-v")
            .arg(format!("{to}:/to/{i}"));
    }
    c.arg("--")
        .arg(image)
        .arg("86400")
        .timeout(WAIT)
        .run()
        .map_err(classify)?;
    Ok(())
}

/// Runs a script in the helper; its stdout.
pub fn helper_sh(name: &str, script: &str, limit: Duration) -> Result<String> {
    docker()
        .args(["exec", name, "sh", "-c", script])
        .timeout(limit)
        .run()
        .map_err(|e| classify(e).into())
}

/// Removes copy `op`'s helper (ending whatever it still runs), only if it carries
/// `op`'s label: `Ok(None)` when it is gone (or was never there), `Ok(Some(why))`
/// when it is not that copy's and was left; `Err` when Docker did not answer.
pub fn remove_helper(name: &str, op: &str) -> Result<Option<String>> {
    match remove_if_labelled(
        Object::Container,
        name,
        &[(crate::tools::docker::OP_LABEL, op)],
    )? {
        Removal::Refused(why) => Ok(Some(why)),
        Removal::Removed | Removal::Gone => Ok(None),
    }
}

/// The named volumes `container` mounts, with where.
pub fn mount_points(container: &str) -> Result<Vec<(String, String)>> {
    let out = docker()
        .args([
            "inspect",
            "--format",
            "{{range .Mounts}}{{.Name}}\t{{.Destination}}\n{{end}}",
            "--",
            container,
        ])
        .timeout(WAIT)
        .run()
        .map_err(classify)?;
    Ok(plan::parse_mounts(&out))
}

/// The user a Postgres server runs as in the images people use (the official
/// image, Debian's and Ubuntu's packages): local connections as it are trusted or
/// peer-authenticated, replication included.
const PG_USER: &str = "postgres";

/// The Postgres server running in `container`, if there is one kinfra can copy
/// online: `pg_basebackup` is there and the server answers a local connection.
/// Anything else (no such user, no Postgres, a password wanted) is `None`.
pub fn postgres_in(container: &str) -> Option<plan::PgServer> {
    // `-w`: never wait for a password; the container's POSTGRES_USER (the official
    // image's superuser) when it sets one.
    let probe = r#"command -v pg_basebackup >/dev/null || exit 3
psql -XAtqw -U "${POSTGRES_USER:-postgres}" -d postgres -c 'show data_directory' && id -u && id -g"#;
    docker()
        .args(["exec", "-u", PG_USER, container, "sh", "-c", probe])
        .timeout(Duration::from_secs(20))
        .run()
        .ok()
        .and_then(|o| plan::parse_pg_probe(&o))
}

/// Copies the running server in `container` into the helper's `/to/{index}/{rel}`
/// with `pg_basebackup` (a consistent physical copy with the WAL it needs; the
/// server is not paused), owned by the server's user. The target is emptied first
/// (a reset refills). `rel` comes from [`plan::data_dir_within`] (plain names).
pub fn basebackup(
    container: &str,
    helper: &str,
    index: usize,
    rel: &str,
    pg: &plan::PgServer,
    cancel: impl Fn() -> bool,
) -> Result<()> {
    let source = docker()
        .args(["exec", "-u", PG_USER, container, "sh", "-c"])
        .arg(
            r#"exec pg_basebackup -D - -Ft -X fetch --no-manifest --checkpoint=fast -w -U "${POSTGRES_USER:-postgres}""#,
        )
        .timeout(Duration::from_secs(24 * 3600));
    let dir = if rel.is_empty() {
        format!("/to/{index}")
    } else {
        format!("/to/{index}/{rel}")
    };
    let script = format!(
        r#"set -e
{EMPTY_FN}
empty /to/{index}
mkdir -p '{dir}'
cd '{dir}'
tar -x -f -
chown -R {uid}:{gid} '{dir}'
chmod 700 '{dir}'
echo copied
"#,
        uid = pg.uid,
        gid = pg.gid
    );
    let target = docker()
        .args(["exec", "-i", helper, "sh", "-c"])
        .arg(script);
    let out = source.pipe_into(&target, cancel).map_err(classify)?;
    if out.lines().any(|l| l.trim() == "copied") {
        Ok(())
    } else {
        Err(crate::data::error::DataError::HelperUnfinished {
            what: "extracting pg_basebackup's copy",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holders_parse_from_captured_ps_output() {
        let text = "abc\trunning\tpostgres:16\tshop_pgdata,/host/path\n\
def\tpaused\tbusybox:1.35\t\n\
ghi\texited\tbusybox:1.35\tshop_files\n\
bad line\n";
        let h = parse_holders(text);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].mounts, ["shop_pgdata", "/host/path"]);
        assert!(h[1].running && h[1].paused);
        assert!(!h[2].running);
    }
}
