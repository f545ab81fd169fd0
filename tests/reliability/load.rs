//! Load: many kinfra processes at once on one registry and one engine.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::Tally;
use crate::harness::{Env, docker_objects, git};

/// `kinfra sandbox <verb> l<i>` for i in 0..10, all at once.
fn parallel(env: &Env, repo: &std::path::Path, verb: &str) -> Vec<crate::harness::Run> {
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|i| s.spawn(move || env.kinfra(repo, &["sandbox", verb, &format!("l{i}")])))
            .collect();
        hs.into_iter().map(|h| h.join().expect("join")).collect()
    })
}

pub fn run(t: &mut Tally, docker: bool) {
    if !docker {
        return;
    }
    t.case("load", "10 concurrent creates, then 10 concurrent destroys", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-load");
        let env = &env;
        let runs = parallel(env, &repo, "create");
        for r in &runs {
            r.success();
        }
        let reg = env.registry();
        let inst = reg["instances"].as_object().expect("instances");
        let slots: BTreeSet<u64> = inst.values().map(|e| e["slot"].as_u64().expect("slot")).collect();
        assert_eq!(slots, (1..=10).collect(), "10 distinct slots");
        for i in 0..10 {
            assert!(env.work.join(format!("ktrdr--l{i}/.env.sandbox")).is_file(), "worktree {i}");
        }
        // Three of them running, so destroy has containers and volumes to remove.
        for i in 0..3 {
            env.kinfra(&env.work.join(format!("ktrdr--l{i}")), &["sandbox", "up", "--no-secrets", "--no-wait"])
                .success();
        }
        let runs = parallel(env, &repo, "destroy");
        for r in &runs {
            r.success();
        }
        let reg = env.registry();
        assert!(reg["instances"].as_object().is_none_or(|o| o.is_empty()), "{reg:#}");
        for i in 0..10 {
            assert!(!env.work.join(format!("ktrdr--l{i}")).exists());
            assert!(docker_objects(&format!("ktrdr--l{i}")).is_empty());
        }
        assert_eq!(git(&repo, &["worktree", "list"]).lines().count(), 1);
        assert!(git(&repo, &["status", "--porcelain"]).trim().is_empty(), "the clone is untouched");
        "10 distinct slots and worktrees, valid registry; after 10 parallel destroys no directory, entry, container or volume left".into()
    });

    t.case("load", "concurrent up/down/status/list on three sandboxes", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-busy");
        let mut marked = Vec::new();
        for i in 0..3 {
            env.kinfra(&repo, &["sandbox", "create", &format!("b{i}")]).success();
            env.kinfra(&env.work.join(format!("ktrdr--b{i}")), &["sandbox", "up", "--no-secrets", "--no-wait"])
                .success();
            marked.extend(crate::harness::mark_volumes(&format!("ktrdr--b{i}")));
        }
        let env = &env;
        let valid = |s: &str| {
            ["running", "stopped", "directory missing", "unknown"].contains(&s) || s.starts_with("partial ")
        };
        let deadline = Instant::now() + Duration::from_secs(25);
        let counts: Vec<usize> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4)
                .map(|w| {
                    s.spawn(move || {
                        let mut n = 0;
                        let mut k = w;
                        while Instant::now() < deadline {
                            k = (k * 7 + 3) % 12;
                            let dir = env.work.join(format!("ktrdr--b{}", k % 3));
                            let started = Instant::now();
                            let r = match k % 4 {
                                0 => env.kinfra(&dir, &["sandbox", "up", "--no-secrets", "--no-wait"]),
                                1 => env.kinfra(&dir, &["sandbox", "down"]),
                                2 => env.kinfra(&dir, &["sandbox", "status", "--json"]),
                                _ => env.kinfra(&dir, &["sandbox", "list", "--json"]),
                            };
                            assert!(started.elapsed() < Duration::from_secs(120), "a command hung\n{r}");
                            r.no_panic();
                            // Commands on one instance take turns (its lock): none fails.
                            assert_eq!(r.code, 0, "a racing command failed\n{r}");
                            if r.code == 0 && k % 4 == 2 {
                                let v = r.json();
                                let services = v["services"].as_array().expect("services");
                                let running = services.iter().filter(|s| s["state"] == "running").count();
                                let state = v["state"].as_str().expect("state");
                                let expect = if running == 0 {
                                    "stopped".to_string()
                                } else if running == services.len() {
                                    "running".to_string()
                                } else {
                                    format!("partial {running}/{}", services.len())
                                };
                                assert_eq!(state, expect, "status contradicts its own services\n{r}");
                            }
                            if r.code == 0 && k % 4 == 3 {
                                for row in r.json()["instances"].as_array().expect("rows") {
                                    assert!(valid(row["state"].as_str().expect("state")), "{row}");
                                }
                            }
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("a worker panicked")).collect()
        });
        let reg = env.registry();
        assert_eq!(reg["instances"].as_object().expect("instances").len(), 3, "{reg:#}");
        // Every volume (a database) kept its data through the storm.
        crate::harness::assert_marked(&marked, &"after concurrent up/down/status/list");
        // Afterwards every sandbox still comes up and goes down cleanly.
        for i in 0..3 {
            let dir = env.work.join(format!("ktrdr--b{i}"));
            env.kinfra(&dir, &["sandbox", "up", "--no-secrets"]).success();
            env.kinfra(&dir, &["sandbox", "down", "--volumes"]).success();
        }
        format!(
            "{} commands in 25 s from 4 workers; every one succeeded (instance locks), states consistent, registry valid, every marked volume kept; all three recover",
            counts.iter().sum::<usize>()
        )
    });
}
