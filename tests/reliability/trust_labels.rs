//! Trust by construction, labels and names: kinfra removes only what carries the
//! label of the operation that made it (a forged data journal names local-prod's
//! volume, another project's and a bystander container: all survive, each refusal
//! said); a shared service can never be an instance's compose project; two saves
//! of one snapshot name at once: one wins, the other is told the name is taken; a
//! snapshot is never named like an instance, and `--data` never takes another
//! project's sandbox.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};

use crate::Tally;
use crate::harness::{
    BIN, Env, all_running, assert_marked, docker, mark_volumes, project, snapshot_volumes,
};

/// A small project whose one service writes a named volume; its port from `port`.
fn files(name: &str, port: u16, extra: &str) -> Vec<(&'static str, String)> {
    let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"${WEB_PORT:-8080}:80\"\n    volumes:\n      - data:/data\n    stop_grace_period: 1s\nvolumes:\n  data: {}\n";
    let toml = format!(
        "name = \"{name}\"\ncompose_file = \"compose.yaml\"\n\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = {port}\nbase = {}\nstep = 1\n{extra}",
        port + 1
    );
    vec![("compose.yaml", compose.to_string()), ("kinfra.toml", toml)]
}

fn make(env: &Env, name: &str, port: u16, extra: &str) -> PathBuf {
    let f = files(name, port, extra);
    let refs: Vec<(&str, &str)> = f.iter().map(|(p, t)| (*p, t.as_str())).collect();
    project(env, name, &refs)
}

/// `name`'s local-prod, started and with every volume marked; its id and volumes.
fn marked_prod(env: &Env, name: &str, port: u16) -> (PathBuf, String, Vec<String>) {
    let repo = make(env, name, port, "");
    env.kinfra(&repo, &["local-prod", "init"]).success();
    env.kinfra(&repo, &["local-prod", "up", "--no-secrets"])
        .success();
    let id = format!("{name}-prod");
    let vols = mark_volumes(&id);
    (repo, id, vols)
}

fn running(container: &str) -> bool {
    docker(&["inspect", "-f", "{{.State.Running}}", container]).trim() == "true"
}

fn cleanup(env: &Env, repo: &Path) {
    for s in snapshot_volumes() {
        if let Some(name) = s.split('.').nth(2)
            && s.starts_with(&format!(
                "kinfra-snap.{}.",
                repo.file_name().expect("repo name").to_string_lossy()
            ))
        {
            let _ = env.kinfra(repo, &["snapshot", "rm", name]);
        }
    }
    let _ = env.kinfra(repo, &["local-prod", "destroy", "--yes"]);
}

/// Runs the checks, then `cleanup` whatever they found, then fails as they did.
fn checked(checks: impl FnOnce(), cleanup: impl FnOnce()) {
    let outcome = catch_unwind(AssertUnwindSafe(checks));
    cleanup();
    if let Err(e) = outcome {
        resume_unwind(e);
    }
}

/// What a volume's marker file says ("" when it has none).
fn marker(volume: &str) -> String {
    docker(&[
        "run",
        "--rm",
        "-v",
        &format!("{volume}:/m:ro"),
        "busybox:1.35",
        "sh",
        "-c",
        "cat /m/kinfra-marker || true",
    ])
    .trim()
    .to_string()
}

/// A pid no process has now (one that just ended).
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("spawn true");
    let pid = c.id();
    c.wait().expect("wait");
    pid
}

pub fn run(t: &mut Tally) {
    t.docker_case("untrusted input", "labels: a forged data journal removes nothing kinfra did not make", || {
        let env = Env::with_docker().expect("docker");
        let (repo, _id, lp_vols) = marked_prod(&env, "tlabj", 31611);
        // Another project's data, and a bystander container with its own label
        // (and a kinfra op label of some other operation).
        let tag = std::process::id();
        let other_project = format!("tlabj-other-{tag}");
        let other_vol = format!("{other_project}_data");
        docker(&["volume", "create", "--label", &format!("com.docker.compose.project={other_project}"), &other_vol]);
        let other = mark_volumes(&other_project);
        let bystander = format!("tlabj-bystander-{tag}");
        docker(&["run", "-d", "--name", &bystander, "--label", "dev.example.owner=someone", "--label", "dev.kinfra.op=1-1", "busybox:1.35", "sleep", "600"]);
        // Paused by someone else: a container paused by hand (no compose label), and
        // a compose container a running copy (a live journal) holds paused.
        let by_hand = format!("tlabj-byhand-{tag}");
        docker(&["run", "-d", "--name", &by_hand, "busybox:1.35", "sleep", "600"]);
        docker(&["pause", &by_hand]);
        let held = format!("tlabj-held-{tag}");
        docker(&["run", "-d", "--name", &held, "--label", &format!("com.docker.compose.project={other_project}"), "busybox:1.35", "sleep", "600"]);
        docker(&["pause", &held]);
        let pid = dead_pid();
        let ops = env.kinfra_home.join("data/ops");
        std::fs::create_dir_all(&ops).expect("mkdir");
        let live = ops.join(format!("{}-8.json", std::process::id()));
        std::fs::write(&live, serde_json::json!({"pid": std::process::id(), "paused": [held]}).to_string()).expect("write live journal");
        let journal = ops.join(format!("{pid}-7.json"));
        let mut created = lp_vols.clone();
        created.push(other_vol.clone());
        created.push("--all\nx".into());
        std::fs::write(&journal, serde_json::json!({"pid": pid, "helper": bystander, "paused": [by_hand, held], "created": created}).to_string()).expect("write journal");
        let paused = |c: &str| docker(&["inspect", "-f", "{{.State.Paused}}", c]).trim() == "true";
        let r = env.kinfra(&repo, &["snapshot", "save", "after-forgery"]);
        checked(|| {
            r.success().no_panic();
            for v in lp_vols.iter().chain([&other_vol]) {
                r.stderr_has(&format!("refused to remove volume {v}"));
            }
            r.stderr_has(&format!("refused to remove container {bystander}")).stderr_has("dev.kinfra.op");
            r.stderr_has("refused to remove volume \"--all\\nx\"");
            assert_marked(&lp_vols, &"local-prod's volumes after a forged journal");
            assert_marked(&other, &"another project's volume after a forged journal");
            assert!(running(&bystander), "the bystander container was removed or stopped\n{r}");
            r.stderr_has(&format!("left \"{by_hand}\" as it is")).stderr_has(&format!("left {held} paused"));
            assert!(paused(&by_hand), "a container paused by hand was unpaused\n{r}");
            assert!(paused(&held), "a running copy's paused container was unpaused\n{r}");
            assert!(live.is_file(), "a running copy's journal is its own\n{r}");
            assert!(!journal.exists(), "the forged journal is read once");
            assert!(ops.join(format!("{pid}-7.json.refused")).is_file(), "it is kept for a person\n{r}");
            // Its own copy still cleans up after itself: no helper, no half-made volume.
            assert!(docker(&["ps", "-aq", "--filter", "label=dev.kinfra.helper"]).trim().is_empty());
        }, || {
            let _ = Command::new("docker").args(["rm", "-f", &bystander, &by_hand, &held]).output();
            let _ = std::fs::remove_file(&live);
            let _ = Command::new("docker").args(["volume", "rm", "-f", &other_vol]).output();
            cleanup(&env, &repo);
        });
        format!("a journal naming {} local-prod volume(s), another project's volume and a labelled bystander container: snapshot save succeeded, refused each by name (no dev.kinfra.op label of that journal), every marker and the container survive, the journal kept as .refused; a container paused by hand and one a running copy holds paused stay paused", lp_vols.len())
    });

    t.docker_case("untrusted input", "labels: shared down with an instance's project name is refused", || {
        let env = Env::with_docker().expect("docker");
        let (repo, id, vols) = marked_prod(&env, "tlabs", 31621);
        // The same project's kinfra.toml gains a shared service as local-prod's project.
        let shared = format!("\n[[shared]]\nname = \"obs\"\ncompose_file = \"compose.yaml\"\nproject = \"{id}\"\n");
        let toml = std::fs::read_to_string(repo.join("kinfra.toml")).expect("read");
        std::fs::write(repo.join("kinfra.toml"), format!("{toml}{shared}")).expect("write");
        let r1 = env.kinfra(&repo, &["shared", "down"]);
        // Another project's description names this local-prod's project.
        let other = make(&env, "tlabs-b", 31631, &shared);
        let r2 = env.kinfra(&other, &["shared", "down"]);
        let r3 = env.kinfra(&other, &["shared", "up"]);
        checked(|| {
            r1.code(2).stderr_has("local-prod's compose project").stderr_has("obs").no_panic();
            r2.code(2).stderr_has(&format!("is the instance {id}'s")).no_panic();
            r3.code(2).stderr_has(&format!("is the instance {id}'s")).no_panic();
            assert!(all_running(&id), "local-prod's containers were stopped\n{r1}\n{r2}");
            assert_marked(&vols, &"after shared down");
        }, || {
            std::fs::write(repo.join("kinfra.toml"), &toml).expect("restore");
            cleanup(&env, &repo);
        });
        "a shared service whose project is local-prod's: refused when kinfra.toml is read (exit 2); the same name from another project's kinfra.toml: shared down and shared up refused against the registry (exit 2, naming the instance); local-prod kept running with its data".into()
    });

    t.docker_case("untrusted input", "names: two concurrent saves of one snapshot name, one wins", || {
        let env = Env::with_docker().expect("docker");
        let (repo, _id, vols) = marked_prod(&env, "tlabc", 31641);
        let barrier = Arc::new(Barrier::new(2));
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let mut cmd = env.command(BIN, &repo, &["snapshot", "save", "same"], &[]);
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let out = cmd.output().expect("run");
                    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
                })
            })
            .collect();
        let mut results: Vec<(i32, String)> = runs.into_iter().map(|h| h.join().expect("thread")).collect();
        results.sort();
        let snaps: Vec<String> = snapshot_volumes().into_iter().filter(|v| v.starts_with("kinfra-snap.tlabc.same.")).collect();
        checked(|| {
            assert_eq!(results[0].0, 0, "one wins: {results:?}");
            assert_eq!(results[1].0, 1, "the other is told the name is taken: {results:?}");
            assert!(results[1].1.contains("a snapshot \"same\" of tlabc already exists"), "{results:?}");
            assert_eq!(snaps.len(), vols.len(), "one set of volumes: {snaps:?}");
            for (snap, v) in snaps.iter().zip(&vols) {
                assert_eq!(marker(snap), format!("data of {v}"), "the winner's snapshot holds local-prod's data");
            }
            assert_marked(&vols, &"local-prod after two saves");
        }, || cleanup(&env, &repo));
        "two `snapshot save same` started behind a barrier: one exit 0, the other exit 1 (\"already exists\"); one snapshot with local-prod's markers".into()
    });

    t.docker_case("untrusted input", "names: snapshots named like instances, another project's sandbox as --data", || {
        let env = Env::with_docker().expect("docker");
        let (repo, _id, vols) = marked_prod(&env, "tlabn", 31651);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let before = snapshot_volumes();
        let names = [
            ("local-prod", "local-prod's name"),
            ("tlabn-prod", "local-prod's name"),
            ("tlabn--x", "shape of a sandbox's name"),
            ("a", "names the sandbox tlabn--a"),
        ];
        let saves: Vec<_> = names.iter().map(|(name, _)| env.kinfra(&repo, &["snapshot", "save", name])).collect();
        // Another project's sandbox, by its full id.
        let other = make(&env, "tlabn-o", 31661, "");
        env.kinfra(&other, &["sandbox", "create", "b"]).success();
        let r = env.kinfra(&repo, &["sandbox", "create", "c", "--data", "tlabn-o--b"]);
        let registry = env.registry();
        let n = names.len();
        checked(|| {
            for ((_, says), s) in names.iter().zip(&saves) {
                s.code(2).stderr_has(says).stderr_has("ambiguous").no_panic();
            }
            r.code(2).stderr_has("belongs to project tlabn-o").no_panic();
            assert!(registry["instances"].get("tlabn--c").is_none(), "a sandbox was made\n{r}");
            assert_eq!(snapshot_volumes(), before, "no snapshot volume was made");
            assert_marked(&vols, &"after the refusals");
        }, || {
            let _ = env.kinfra(&other, &["sandbox", "destroy", "b", "--force"]);
            let _ = env.kinfra(&repo, &["sandbox", "destroy", "c", "--force"]);
            let _ = env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]);
            cleanup(&env, &repo);
        });
        format!("{n} snapshot names an instance has (local-prod, its id, a sandbox's shape, a registered sandbox): exit 2 saying --data would be ambiguous, nothing saved; --data naming another project's sandbox: exit 2 naming its project, no sandbox made")
    });
}
