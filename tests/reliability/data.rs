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
    BIN, Env, Paused, all_running, assert_marked, docker, eventually, mark_volumes,
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
            let p = Paused::start(
                &env,
                BIN,
                &prod,
                &["snapshot", "save", "k"],
                "data:paused",
                &[],
            );
            let st = Command::new("kill")
                .args(["-INT", &p.child.id().to_string()])
                .status()
                .expect("kill");
            assert!(st.success());
            std::thread::sleep(Duration::from_millis(100));
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
