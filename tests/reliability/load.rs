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

pub fn run(t: &mut Tally) {
    t.docker_case("load", "10 concurrent creates, then 10 concurrent destroys", || {
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

    t.docker_case("load", "concurrent up/down/status/list on three sandboxes", || {
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
        let dir = |i: usize| env.work.join(format!("ktrdr--b{i}"));

        // 1. Each pair of commands that can race, started together on one instance.
        let pairs: [(Verb, Verb); 4] = [
            (Verb::Up, Verb::Down),
            (Verb::Up, Verb::Up),
            (Verb::Up, Verb::Status),
            (Verb::Down, Verb::Status),
        ];
        for (i, (a, b)) in pairs.iter().enumerate() {
            let d = dir(i % 3);
            let barrier = std::sync::Barrier::new(2);
            let (ra, rb) = std::thread::scope(|s| {
                let ha = s.spawn(|| {
                    barrier.wait();
                    a.run(env, &d)
                });
                let hb = s.spawn(|| {
                    barrier.wait();
                    b.run(env, &d)
                });
                (ha.join().expect("join"), hb.join().expect("join"))
            });
            for (v, r) in [(a, &ra), (b, &rb)] {
                v.check(r);
            }
            // The pair leaves the instance in a state status can name, agreeing with itself.
            let after = env.kinfra(&d, &["sandbox", "status", "--json"]);
            let state = Verb::Status.check(&after).expect("status");
            assert!(
                ["running", "stopped"].contains(&state.as_str()) || state.starts_with("partial "),
                "{a:?} + {b:?} left {state}\n{after}"
            );
        }

        // 2. A storm: 4 workers, each drawing instance and command from its own seeded
        // generator (the seed is in the report, `KINFRA_LOAD_SEED` repeats a run).
        let seed: u64 = std::env::var("KINFRA_LOAD_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_2026);
        let deadline = Instant::now() + Duration::from_secs(15);
        let seen: Vec<Vec<(usize, Verb, Instant, Instant)>> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4u64)
                .map(|w| {
                    s.spawn(move || {
                        let mut rng = XorShift(seed ^ (w + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15));
                        let mut log = Vec::new();
                        // At least three commands each: with this seed, every instance
                        // then meets two workers, and two workers' first commands
                        // start together on one instance.
                        while Instant::now() < deadline || log.len() < 3 {
                            let i = (rng.next() % 3) as usize;
                            let v = [Verb::Up, Verb::Down, Verb::Status, Verb::List][(rng.next() % 4) as usize];
                            let t0 = Instant::now();
                            let r = v.run(env, &dir(i));
                            let t1 = Instant::now();
                            assert!(t1 - t0 < Duration::from_secs(120), "a command hung\n{r}");
                            v.check(&r);
                            log.push((i, v, t0, t1));
                        }
                        log
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("a worker panicked")).collect()
        });
        // Every instance had more than one client, and commands on one instance overlapped.
        let all: Vec<(usize, usize, Verb, Instant, Instant)> = seen
            .iter()
            .enumerate()
            .flat_map(|(w, l)| l.iter().map(move |&(i, v, a, b)| (w, i, v, a, b)))
            .collect();
        let mut met = BTreeSet::new();
        for x in &all {
            for y in &all {
                if x.0 != y.0 && x.1 == y.1 && x.3 < y.4 && y.3 < x.4 {
                    met.insert((x.1, x.0.min(y.0), x.0.max(y.0)));
                }
            }
        }
        for i in 0..3 {
            let clients: BTreeSet<usize> = all.iter().filter(|x| x.1 == i).map(|x| x.0).collect();
            assert!(clients.len() >= 2, "sandbox b{i} saw only workers {clients:?} (seed {seed:#x})");
        }
        assert!(!met.is_empty(), "no two commands overlapped on one instance (seed {seed:#x})");

        let reg = env.registry();
        assert_eq!(reg["instances"].as_object().expect("instances").len(), 3, "{reg:#}");
        // Every volume (a database) kept its data through the races.
        crate::harness::assert_marked(&marked, &"after concurrent up/down/status/list");

        // 3. down and destroy at once: destroy wins or waits its turn; down either ran
        // first or finds no instance (a clear error, never a panic); nothing is left.
        let d = dir(2);
        let barrier = std::sync::Barrier::new(2);
        let (down, destroy) = std::thread::scope(|s| {
            let h1 = s.spawn(|| {
                barrier.wait();
                env.kinfra(&repo, &["sandbox", "down", "b2"])
            });
            let h2 = s.spawn(|| {
                barrier.wait();
                env.kinfra(&repo, &["sandbox", "destroy", "b2", "--force"])
            });
            (h1.join().expect("join"), h2.join().expect("join"))
        });
        destroy.success();
        down.no_panic();
        assert!(
            down.code == 0 || down.stderr.contains("b2"),
            "down beside destroy: success, or an error naming the sandbox\n{down}"
        );
        assert!(!d.exists() && docker_objects("ktrdr--b2").is_empty(), "b2 left something behind");

        // Afterwards the other two still come up and go down cleanly.
        for i in 0..2 {
            env.kinfra(&dir(i), &["sandbox", "up", "--no-secrets"]).success();
            env.kinfra(&dir(i), &["sandbox", "down", "--volumes"]).success();
        }
        format!(
            "4 racing pairs (up/down, up/up, up/status, down/status) each on one instance; then {} commands in 15 s from 4 seeded workers (seed {seed:#x}), each instance from ≥2 workers, {} overlapping pairs; every command succeeded (instance locks), states consistent, registry valid, every marked volume kept; down beside destroy: {}; the rest recover",
            all.len(),
            met.len(),
            if down.code == 0 { "down ran first" } else { "down found no instance" }
        )
    });
}

/// The commands of the storm, and what each must have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Verb {
    Up,
    Down,
    Status,
    List,
}

impl Verb {
    fn run(self, env: &Env, dir: &std::path::Path) -> crate::harness::Run {
        match self {
            Verb::Up => env.kinfra(dir, &["sandbox", "up", "--no-secrets", "--no-wait"]),
            Verb::Down => env.kinfra(dir, &["sandbox", "down"]),
            Verb::Status => env.kinfra(dir, &["sandbox", "status", "--json"]),
            Verb::List => env.kinfra(dir, &["sandbox", "list", "--json"]),
        }
    }

    /// Commands on one instance take turns (its lock): none fails, and what a read
    /// reports agrees with itself. Returns the state `status` reported.
    fn check(self, r: &crate::harness::Run) -> Option<String> {
        r.no_panic();
        assert_eq!(r.code, 0, "a racing {self:?} failed\n{r}");
        match self {
            Verb::Status => {
                let v = r.json();
                let services = v["services"].as_array().expect("services");
                let running = services.iter().filter(|s| s["state"] == "running").count();
                let state = v["state"].as_str().expect("state").to_string();
                let expect = if running == 0 {
                    "stopped".to_string()
                } else if running == services.len() {
                    "running".to_string()
                } else {
                    format!("partial {running}/{}", services.len())
                };
                assert_eq!(state, expect, "status contradicts its own services\n{r}");
                Some(state)
            }
            Verb::List => {
                for row in r.json()["instances"].as_array().expect("rows") {
                    let s = row["state"].as_str().expect("state");
                    assert!(
                        ["running", "stopped", "directory missing", "unknown"].contains(&s)
                            || s.starts_with("partial "),
                        "{row}"
                    );
                }
                None
            }
            Verb::Up | Verb::Down => None,
        }
    }
}

/// A small seeded generator (xorshift64): the storm is random but repeatable.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0.max(1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}
