//! Data branches under faults, on the KTRDR demo with marked volumes: a copy
//! killed (`kill -9`) or interrupted (Ctrl-C) at each step leaves its source
//! running with every marker; reset touches only the sandbox's own volumes; a
//! snapshot outlives the instance it came from. Rule 1: no path removes a volume
//! that existed before the command.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::Tally;
use crate::harness::{
    BIN, Env, Paused, all_running, assert_marked, docker, docker_on, eventually, mark_volumes,
    snapshot_volumes,
};

fn volumes() -> Vec<String> {
    let mut v: Vec<String> = docker(&["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// What a volume's marker file says ("" when it has none).
fn marker(volume: &str) -> String {
    let out = Command::new("docker")
        .args([
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/m:ro"),
            "busybox:1.35",
            "cat",
            "/m/kinfra-marker",
        ])
        .output()
        .expect("docker run");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A running demo local-prod with every volume marked.
fn marked_local_prod(env: &mut Env) -> (std::path::PathBuf, Vec<String>) {
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--no-secrets"])
        .success();
    let vols = mark_volumes("ktrdr-prod");
    (prod, vols)
}

fn wrap_up(env: &Env, prod: &Path) {
    for s in snapshot_volumes() {
        let name = s.split('.').nth(2).unwrap_or_default().to_string();
        let _ = env.kinfra(prod, &["snapshot", "rm", &name]);
    }
    env.kinfra(prod, &["local-prod", "destroy", "--yes"])
        .success();
}

pub fn run(t: &mut Tally) {
    for (what, args) in [
        ("snapshot save", vec!["snapshot", "save", "k"]),
        (
            "create --data local-prod",
            vec!["sandbox", "create", "k", "--data", "local-prod"],
        ),
    ] {
        t.docker_case(
            "data",
            &format!("{what} killed at each step: local-prod runs with every marker"),
            || {
                let mut env = Env::with_docker().expect("docker");
                let (prod, vols) = marked_local_prod(&mut env);
                let mut done = Vec::new();
                for step in ["data:volumes", "data:paused", "data:copied"] {
                    let before = volumes();
                    Paused::start(&env, BIN, &prod, &args, step, &[]).kill();
                    eventually(&format!("{step}: local-prod unpaused"), || {
                        all_running("ktrdr-prod")
                    });
                    eventually(&format!("{step}: half-made volumes removed"), || {
                        volumes().iter().all(|v| before.contains(v))
                    });
                    eventually(&format!("{step}: helper gone"), || {
                        docker(&["ps", "-aq", "--filter", "label=dev.kinfra.helper"])
                            .trim()
                            .is_empty()
                    });
                    assert_marked(&vols, &format!("after kill -9 at {step}"));
                    assert_eq!(volumes(), before, "{step}: no volume that existed went");
                    if args[0] == "sandbox" {
                        env.kinfra(&prod, &["sandbox", "destroy", "k", "--force"])
                            .success();
                    }
                    done.push(step);
                }
                assert!(snapshot_volumes().is_empty());
                wrap_up(&env, &prod);
                format!(
                    "{} marked volumes intact and running after kill -9 at {}",
                    vols.len(),
                    done.join(", ")
                )
            },
        );
    }
    t.docker_case(
        "data",
        "Ctrl-C during a copy: undone, exit 130, local-prod untouched",
        || {
            let mut env = Env::with_docker().expect("docker");
            let (prod, vols) = marked_local_prod(&mut env);
            let before = volumes();
            let mut p = Paused::start(
                &env,
                BIN,
                &prod,
                &["snapshot", "save", "k"],
                "data:paused",
                &[],
            );
            // Resumed only once the interrupt is noted (no sleep stands in for that).
            p.interrupt();
            let (code, err) = p.resume();
            assert_eq!(code, 130, "{err}");
            assert!(all_running("ktrdr-prod"));
            assert_eq!(volumes(), before);
            assert_marked(&vols, &"after Ctrl-C");
            wrap_up(&env, &prod);
            "exit 130; nothing left; markers intact".into()
        },
    );
    t.docker_case(
        "data",
        "reset replaces only the sandbox's own volumes",
        || {
            let mut env = Env::with_docker().expect("docker");
            let (prod, vols) = marked_local_prod(&mut env);
            env.kinfra(&prod, &["sandbox", "create", "r", "--data", "local-prod"])
                .success();
            let wt = env.work.join("ktrdr--r");
            env.kinfra(&wt, &["sandbox", "up", "--no-secrets"])
                .success();
            let own: Vec<String> = docker(&[
                "volume",
                "ls",
                "-q",
                "--filter",
                "label=com.docker.compose.project=ktrdr--r",
            ])
            .lines()
            .map(String::from)
            .collect();
            assert!(!own.is_empty());
            // Each came with local-prod's marker; the sandbox writes its own.
            for v in &own {
                assert!(
                    marker(v).starts_with("data of ktrdr-prod_"),
                    "{v}: {}",
                    marker(v)
                );
            }
            mark_volumes("ktrdr--r");
            env.kinfra(&wt, &["sandbox", "reset", "--yes"]).success();
            for v in &own {
                assert!(
                    marker(v).starts_with("data of ktrdr-prod_"),
                    "{v} after reset: {}",
                    marker(v)
                );
            }
            assert_marked(&vols, &"local-prod after the sandbox's reset");
            assert!(all_running("ktrdr--r") && all_running("ktrdr-prod"));
            env.kinfra(&prod, &["sandbox", "destroy", "r", "--force"])
                .success();
            wrap_up(&env, &prod);
            format!(
                "{} sandbox volumes back to local-prod's; {} local-prod volumes intact",
                own.len(),
                vols.len()
            )
        },
    );
    t.docker_case(
        "data",
        "a snapshot outlives destroy and prune of the instance it came from",
        || {
            let mut env = Env::with_docker().expect("docker");
            let (prod, vols) = marked_local_prod(&mut env);
            env.kinfra(&prod, &["sandbox", "create", "src", "--data", "local-prod"])
                .success();
            env.kinfra(&prod, &["snapshot", "save", "keep", "--from", "src"])
                .success();
            env.kinfra(&prod, &["sandbox", "destroy", "src", "--force"])
                .success();
            env.kinfra(&prod, &["sandbox", "prune"]).success();
            let snaps = snapshot_volumes();
            assert!(!snaps.is_empty());
            for v in &snaps {
                assert!(marker(v).starts_with("data of ktrdr-prod_"), "{v}");
            }
            env.kinfra(&prod, &["sandbox", "create", "again", "--data", "keep"])
                .success();
            env.kinfra(&prod, &["sandbox", "destroy", "again", "--force"])
                .success();
            assert_eq!(snapshot_volumes(), snaps);
            assert_marked(&vols, &"local-prod");
            wrap_up(&env, &prod);
            format!(
                "{} snapshot volumes kept through destroy and prune of their source",
                snaps.len()
            )
        },
    );
}

/// The copy-on-write engine (scripts/cow-engine.sh), whose volumes live on a
/// filesystem of their own: one the suite can fill, and an engine it can restart
/// without touching the main one. Required where it can run (root on Linux).
fn cow_engine() -> String {
    if let Ok(h) = std::env::var("KINFRA_TEST_COW_DOCKER_HOST")
        && !h.is_empty()
    {
        return h;
    }
    if std::env::var("KINFRA_TEST_SKIP_COW").is_ok_and(|v| v == "1") {
        crate::skip("KINFRA_TEST_SKIP_COW=1");
    }
    panic!(
        "these cases need the copy-on-write engine: `eval \"$(scripts/cow-engine.sh start)\"` \
         (root; scripts/test does it), or KINFRA_TEST_SKIP_COW=1"
    );
}

/// Where the copy-on-write engine's filesystem is mounted on this machine.
fn cow_mount() -> std::path::PathBuf {
    Path::new(&std::env::var("KINFRA_COW_DIR").unwrap_or_else(|_| "/var/tmp/kinfra-cow".into()))
        .join("mnt")
}

fn volumes_on(host: &str) -> Vec<String> {
    let mut v: Vec<String> = docker_on(host, &["volume", "ls", "-q"])
        .lines()
        .map(String::from)
        .collect();
    v.sort();
    v
}

/// Whether a copy's watchdog (`kinfra internal thaw JOURNAL`) for a journal in
/// `ops` still runs (a process that ended shows no command line).
fn watchdog_runs(ops: &Path) -> bool {
    let want = format!("internal\0thaw\0{}/", ops.display());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| {
            std::fs::read(e.path().join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&want))
        })
}

/// Every container of `project` on `host` runs (none paused or stopped).
fn running_on(host: &str, project: &str) -> bool {
    let p = format!("label=com.docker.compose.project={project}");
    let s = Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(["ps", "-a", "--filter", &p, "--format", "{{.State}}"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    !s.trim().is_empty() && s.lines().all(|l| l == "running")
}

/// Each volume holds the marker `mark_on` wrote (and still exists: `docker run -v`
/// would make a missing one empty).
#[track_caller]
fn assert_marked_on(host: &str, vols: &[String], context: &str) {
    for v in vols {
        let text = docker_on(
            host,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{v}:/m:ro"),
                "busybox:1.35",
                "cat",
                "/m/kinfra-marker",
            ],
        );
        assert!(
            text.contains(&format!("data of {v}")),
            "{context}: volume {v} lost its data"
        );
    }
}

/// A file that takes the copy-on-write engine's free space down to `leave` bytes;
/// removed when dropped, so a failed case never leaves a full disk behind.
struct Filler(std::path::PathBuf);

impl Filler {
    fn leave(leave: u64) -> Filler {
        let dir = cow_mount();
        let f = Filler(dir.join("kinfra-test-filler"));
        let st = nix::sys::statvfs::statvfs(&dir).expect("statvfs");
        let free = st.blocks_available() as u64 * st.fragment_size() as u64;
        assert!(
            free > leave,
            "the engine's filesystem has only {free} bytes free"
        );
        let st = Command::new("fallocate")
            .args(["-l", &(free - leave).to_string()])
            .arg(&f.0)
            .status()
            .expect("fallocate");
        assert!(st.success(), "fallocate");
        f
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const COW_COMPOSE: &str = r#"services:
  db:
    image: busybox:1.35
    command: ["sleep", "100000"]
    restart: unless-stopped
    stop_grace_period: 1s
    volumes:
      - data:/data
  files:
    image: busybox:1.35
    command: ["sleep", "100000"]
    restart: unless-stopped
    stop_grace_period: 1s
    volumes:
      - files:/files
volumes:
  data:
  files:
"#;

/// A running local-prod of a project without configuration on the copy-on-write
/// engine, 300 MB in one volume and a marker in each: (its directory, its volumes).
/// Its only image, busybox, has a `cp` without `--reflink`: the copy is a plain
/// one, which needs the space.
fn cow_local_prod(env: &Env, host: &str) -> (std::path::PathBuf, Vec<String>) {
    // The engine is the suite's own: what an earlier failed run left goes first.
    for c in docker_on(host, &["ps", "-aq"]).lines() {
        docker_on(host, &["rm", "-f", c]);
    }
    for v in volumes_on(host) {
        docker_on(host, &["volume", "rm", &v]);
    }
    let prod = crate::harness::project(env, "cowrel", &[("compose.yaml", COW_COMPOSE)]);
    let dh = [("DOCKER_HOST", host)];
    env.kinfra_env(&prod, &["local-prod", "init"], &dh)
        .success();
    env.kinfra_env(&prod, &["local-prod", "up", "--timeout", "90"], &dh)
        .success();
    let vols = volumes_on(host);
    assert_eq!(vols.len(), 2, "{vols:?}");
    for v in &vols {
        docker_on(
            host,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{v}:/m"),
                "busybox:1.35",
                "sh",
                "-c",
                &format!("echo 'data of {v}' > /m/kinfra-marker"),
            ],
        );
    }
    docker_on(
        host,
        &[
            "run",
            "--rm",
            "-v",
            "cowrel-prod_files:/m",
            "busybox:1.35",
            "dd",
            "if=/dev/zero",
            "of=/m/big",
            "bs=1048576",
            "count=300",
        ],
    );
    (prod, vols)
}

fn cow_wrap_up(env: &Env, host: &str, prod: &Path) {
    env.kinfra_env(
        prod,
        &["local-prod", "destroy", "--yes"],
        &[("DOCKER_HOST", host)],
    )
    .success();
}

pub fn cow_cases(t: &mut Tally) {
    t.docker_case(
        "data",
        "full disk: refused before copying with the sizes, or ENOSPC mid-copy undone; local-prod untouched",
        || {
            let host = cow_engine();
            let env = Env::with_docker().expect("docker");
            let (prod, vols) = cow_local_prod(&env, &host);
            let dh = [("DOCKER_HOST", host.as_str())];
            let before = volumes_on(&host);
            // Less free than the copy writes: refused before anything is paused.
            {
                let _full = Filler::leave(150 << 20);
                env.kinfra_env(&prod, &["snapshot", "save", "k"], &dh)
                    .code(1)
                    .stderr_has("not enough free space for the copy: it writes 300")
                    .stderr_has("free")
                    .stderr_has("nothing was changed");
            }
            assert_eq!(volumes_on(&host), before, "refused: no volume made or gone");
            assert!(running_on(&host, "cowrel-prod"));
            assert_marked_on(&host, &vols, "after the refusal");
            // Room at the check, none once the writers are paused: cp fails mid-way.
            let p = Paused::start(&env, BIN, &prod, &["snapshot", "save", "k"], "data:paused", &dh);
            let full = Filler::leave(40 << 20);
            let (code, err) = p.resume();
            drop(full);
            assert_eq!(code, 1, "{err}");
            assert!(err.contains("No space left"), "{err}");
            assert!(err.contains("removed the half-made volume"), "{err}");
            assert_eq!(volumes_on(&host), before, "ENOSPC: the half-made copy went, nothing else");
            eventually("unpaused after ENOSPC", || running_on(&host, "cowrel-prod"));
            assert_marked_on(&host, &vols, "after ENOSPC");
            // With the space back, the same save works.
            env.kinfra_env(&prod, &["snapshot", "save", "k"], &dh).success();
            env.kinfra_env(&prod, &["snapshot", "rm", "k"], &dh).success();
            cow_wrap_up(&env, &host, &prod);
            format!("{} marked volumes intact after a refusal (150 MiB free for 300 MB) and an ENOSPC mid-copy", vols.len())
        },
    );
    t.docker_case(
        "data",
        "Docker restarts mid-copy: the undo waits for it; the next data command removes the half-made copy",
        || {
            let host = cow_engine();
            let env = Env::with_docker().expect("docker");
            let (prod, vols) = cow_local_prod(&env, &host);
            let dh = [("DOCKER_HOST", host.as_str())];
            let before = volumes_on(&host);
            let p = Paused::start(&env, BIN, &prod, &["snapshot", "save", "k"], "data:paused", &dh);
            let cow = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cow-engine.sh");
            let pid_file = cow_mount().parent().expect("cow dir").join("docker.pid");
            let pid = std::fs::read_to_string(&pid_file).expect("the engine's pid file");
            let st = Command::new("kill").args(["-TERM", pid.trim()]).status().expect("kill");
            assert!(st.success());
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            while pid_file.exists() {
                assert!(std::time::Instant::now() < deadline, "the engine never stopped");
                std::thread::sleep(Duration::from_millis(100));
            }
            // The copy goes on with the engine gone: it fails, and keeps its journal.
            let (code, err) = p.resume();
            // Its watchdog sees it gone and tries too (in ~50 ms): with Docker still
            // down, it keeps the journal as well. Waited for until it has ended, not
            // slept on: under load it could try only after the restart, and undo it all.
            let ops = env.kinfra_home.join("data/ops");
            eventually("the copy's watchdog has tried and ended", || !watchdog_runs(&ops));
            let restarted = Command::new(&cow).arg("start").output().expect("cow-engine.sh");
            assert!(restarted.status.success(), "{}", String::from_utf8_lossy(&restarted.stderr));
            assert_ne!(code, 0, "{err}");
            assert!(err.contains("next data command"), "{err}");
            let journals = std::fs::read_dir(env.kinfra_home.join("data/ops"))
                .map(|d| d.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "json")).count())
                .unwrap_or(0);
            assert_eq!(journals, 1, "the undo left to do is kept: {err}");
            eventually("local-prod back after the restart", || running_on(&host, "cowrel-prod"));
            // The next data command finishes the undo first: the same name is free.
            let r = env.kinfra_env(&prod, &["snapshot", "save", "k"], &dh);
            r.success().stderr_has("an interrupted copy left work behind");
            r.stderr_has("removed the half-made volume");
            env.kinfra_env(&prod, &["snapshot", "rm", "k"], &dh).success();
            assert_eq!(volumes_on(&host), before, "only the half-made copy went");
            assert_marked_on(&host, &vols, "after the restart");
            cow_wrap_up(&env, &host, &prod);
            format!("{} marked volumes intact; the half-made copy removed by the next save", vols.len())
        },
    );
}
