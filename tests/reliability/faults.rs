//! Faults: kill -9 at named steps, Docker cut off mid-`up`, a full disk under the
//! registry, containers that die during the gate. After each: the state is
//! consistent, `prune` (or a rerun) reaches a clean state, and no user file is lost.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::Tally;
use crate::harness::{
    BIN, Env, Paused, SETUP_BIN, docker_objects, git, snapshot, staging_leftovers,
};

/// Starts a binary that pauses at `step`, waits until it is there, and kills -9 it.
fn kill_at(env: &Env, bin: &str, cwd: &Path, args: &[&str], step: &str) {
    Paused::start(env, bin, cwd, args, step, &[]).kill();
}

/// The registry parses and lists; `prune` runs; then whatever is still registered is
/// destroyed; in the end nothing of `project` is left and the clone is intact.
fn recover_to_clean(
    env: &Env,
    repo: &Path,
    project: &str,
    clone_before: &[(PathBuf, Vec<u8>)],
) -> String {
    env.kinfra(repo, &["sandbox", "list", "--json"]).success();
    let pruned = env.kinfra(repo, &["sandbox", "prune"]);
    pruned.success();
    let still = env.registry()["instances"].get(project).is_some();
    if still {
        env.kinfra(repo, &["sandbox", "destroy", project, "--force"])
            .success();
    }
    assert!(env.registry()["instances"].get(project).is_none());
    assert!(
        docker_objects(project).is_empty(),
        "{:?}",
        docker_objects(project)
    );
    assert!(
        !env.work.join(project).exists() || !project.starts_with("ktrdr--"),
        "worktree left"
    );
    git(repo, &["worktree", "prune"]);
    assert_eq!(git(repo, &["worktree", "list"]).lines().count(), 1);
    crate::assert_intact("the clone", clone_before, &repo.join("backend"));
    format!(
        "{}{}",
        pruned.stdout.lines().next().unwrap_or(""),
        if still { "; then destroy --force" } else { "" }
    )
}

pub fn run(t: &mut Tally) {
    // kill -9 at every named step of create, up and destroy.
    for step in [
        "create:reserved",
        "create:worktree",
        "up:recorded",
        "up:started",
        "up:gate",
        "destroy:checked",
        "destroy:torn-down",
        "destroy:removed",
    ] {
        t.docker_case("faults", &format!("kill -9 at {step}"), || {
            let mut env = Env::with_docker().expect("docker");
            let repo = env.clone_repo("ktrdr-kill");
            let before = snapshot(&repo.join("backend"));
            let wt = env.work.join("ktrdr--k");
            match step.split(':').next() {
                Some("create") => kill_at(&env, BIN, &repo, &["sandbox", "create", "k"], step),
                Some("up") => {
                    env.kinfra(&repo, &["sandbox", "create", "k"]).success();
                    kill_at(&env, BIN, &wt, &["sandbox", "up", "--no-secrets"], step);
                }
                _ => {
                    env.kinfra(&repo, &["sandbox", "create", "k"]).success();
                    env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--no-wait"])
                        .success();
                    kill_at(&env, BIN, &repo, &["sandbox", "destroy", "k"], step);
                }
            }
            let r = recover_to_clean(&env, &repo, "ktrdr--k", &before);
            // And the name is usable again.
            env.kinfra(&repo, &["sandbox", "create", "k"]).success();
            format!("registry valid after the kill; recovery: {r}; name reusable")
        });
    }
    t.docker_case("faults", "failed and killed starts of a sandbox holding data keep every volume", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-held");
        let wt = env.create_sandbox(&repo, "held");
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).success();
        let vols = crate::harness::mark_volumes("ktrdr--held");
        // kill -9 in the middle of a start, at each step after compose was asked.
        for step in ["up:recorded", "up:started", "up:gate"] {
            kill_at(&env, BIN, &wt, &["sandbox", "up", "--no-secrets"], step);
            crate::harness::assert_marked(&vols, &format!("after kill -9 at {step}"));
        }
        // The gate fails; then compose itself fails part-way.
        let workers = wt.join("backend/www/api/v1/workers");
        std::fs::remove_file(&workers).expect("rm");
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "2"])
            .code(2)
            .stderr_has("kept (data from before this start)");
        crate::harness::assert_marked(&vols, &"after a failed gate");
        git(&wt, &["checkout", "--", "backend/www/api/v1/workers"]);
        crate::harness::add_unstartable_service(&wt);
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).code(1);
        crate::harness::assert_marked(&vols, &"after a failed compose run");
        git(&wt, &["checkout", "--", "docker-compose.sandbox.yml"]);
        // prune while the directory exists: the volumes stay.
        env.kinfra(&repo, &["sandbox", "prune"]).success();
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).success();
        crate::harness::assert_marked(&vols, &"after a good start");
        env.kinfra(&wt, &["sandbox", "destroy", "--force"]).success();
        format!("{} marked volumes kept through 3 kills, a failed gate, a failed compose run and a prune", vols.len())
    });

    t.docker_case("faults", "kill -9 at init:registered", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-kinit");
        let before = snapshot(&repo.join("backend"));
        kill_at(&env, BIN, &repo, &["sandbox", "init"], "init:registered");
        // Registered but no .env.sandbox: a rerun says so clearly; release frees it.
        env.kinfra(&repo, &["sandbox", "init"])
            .code(1)
            .stderr_has("already initialized");
        env.kinfra(&repo, &["sandbox", "release", "ktrdr-kinit"])
            .success();
        env.kinfra(&repo, &["sandbox", "init"]).success();
        crate::assert_intact("the clone", &before, &repo.join("backend"));
        "rerun reports the half-made registration; release frees it; init then succeeds".into()
    });
    for step in ["setup:cloning", "setup:cloned"] {
        t.docker_case("faults", &format!("kill -9 of kinfra-setup at {step}"), || {
            let env = Env::with_docker().expect("docker");
            let dest = env.work.join("ktrdr-prod");
            let path = format!("--path={}", dest.display());
            kill_at(&env, SETUP_BIN, &env.work, &["--non-interactive", "--demo", &path, "--skip-shared"], step);
            assert!(!dest.exists(), "no partial clone at the destination");
            // The kill left the clone's staging directory: the rerun must clear it.
            let stale = staging_leftovers(&env.work);
            assert!(!stale.is_empty(), "the kill at {step} left no staging directory to clear");
            env.setup(&env.work, &["--non-interactive", "--demo", &path, "--skip-shared"], &[]).success();
            let partial = staging_leftovers(&env.work);
            assert!(partial.is_empty(), "stale staging left: {partial:?}");
            format!("no directory at the destination after the kill, {} staging director(y/ies) left; the rerun clones and clears them", stale.len())
        });
    }

    t.docker_case("faults", "Docker unreachable in the middle of up", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-cut");
        let wt = env.create_sandbox(&repo, "cut");
        let sock = env.base().join("docker-proxy.sock");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/reliability/sock_proxy.py");
        let mut proxy = Command::new("python3")
            .arg(&script)
            .arg(&sock)
            // The engine's own socket, wherever the docker context puts it.
            .arg(
                kinfra::tools::docker::endpoint()
                    .host
                    .strip_prefix("unix://")
                    .unwrap_or_else(|| crate::skip_platform("the Docker endpoint is not a unix socket")),
            )
            .spawn()
            .expect("proxy");
        while !sock.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let host = format!("unix://{}", sock.display());
        let flag = env.base().join("pause-cut");
        let flag_s = flag.display().to_string();
        let child = env
            .command(
                BIN,
                &wt,
                &["sandbox", "up", "--no-secrets"],
                &[("DOCKER_HOST", &host), ("KINFRA_TEST_PAUSE_AT", "up:recorded"), ("KINFRA_TEST_PAUSE_FILE", &flag_s)],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        while !flag.exists() {
            std::thread::sleep(Duration::from_millis(20));
        }
        let reg_before = std::fs::read(env.registry_path()).expect("registry");
        proxy.kill().expect("kill proxy");
        let _ = proxy.wait();
        let _ = std::fs::remove_file(&sock);
        std::fs::remove_file(&flag).expect("resume");
        let out = child.wait_with_output().expect("wait");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(7), "{stderr}");
        assert!(stderr.contains("Docker engine is not reachable"), "{stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
        assert_eq!(std::fs::read(env.registry_path()).expect("registry"), reg_before, "registry untouched");
        // With the engine back, the same command works.
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).success();
        env.kinfra(&wt, &["sandbox", "destroy"]).success();
        "exit 7 with a clear message and hint; registry byte-for-byte unchanged; a rerun with Docker back succeeds".into()
    });

    t.docker_case("faults", "no space left while the registry is written", || {
        if !cfg!(target_os = "linux") {
            crate::skip_platform("Linux only: mounts a 512 KiB tmpfs");
        }
        let mut env = Env::with_docker().expect("docker");
        let home = env.base().join("tiny-home");
        std::fs::create_dir_all(&home).expect("mkdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k", "tmpfs"])
            .arg(&home)
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            crate::skip("this machine does not allow mounting a small tmpfs");
        }
        struct Unmount(PathBuf);
        impl Drop for Unmount {
            fn drop(&mut self) {
                let _ = Command::new("umount").arg(&self.0).status();
            }
        }
        let _guard = Unmount(home.clone());
        let h = home.display().to_string();
        let a = env.clone_repo("ktrdr-full-a");
        let b = env.clone_repo("ktrdr-full-b");
        env.kinfra_env(&a, &["sandbox", "init"], &[("KINFRA_HOME", &h)]).success();
        let reg = home.join("sandbox/instances.json");
        let before = std::fs::read(&reg).expect("registry");
        // Fill the filesystem.
        let _ = Command::new("dd")
            .args(["if=/dev/zero", "bs=4k"])
            .arg(format!("of={}", home.join("filler").display()))
            .stderr(Stdio::null())
            .status();
        let r = env.kinfra_env(&b, &["sandbox", "init"], &[("KINFRA_HOME", &h)]);
        r.code(1).stderr_has("could not write the registry").stderr_has("No space left");
        assert_eq!(std::fs::read(&reg).expect("registry"), before, "previous registry intact");
        assert!(!b.join(".env.sandbox").exists());
        let leftovers: Vec<_> = std::fs::read_dir(home.join("sandbox"))
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".instances.json."))
            .collect();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
        "exit 1 naming the registry and ENOSPC; the previous registry byte-for-byte intact; no temp file left".into()
    });

    for (name, service_yaml) in [
        (
            "a container that exits during the gate",
            "    command: [\"sh\", \"-c\", \"sleep 2; echo 'jaeger: fatal: out of memory'; exit 3\"]\n",
        ),
        (
            "a container that restart-loops during the gate",
            "    command: [\"sh\", \"-c\", \"echo 'jaeger: crash'; exit 1\"]\n    restart: always\n",
        ),
    ] {
        t.docker_case("faults", name, || {
            let mut env = Env::with_docker().expect("docker");
            let repo = env.clone_repo("ktrdr-die");
            let wt = env.create_sandbox(&repo, "die");
            let f = wt.join("docker-compose.sandbox.yml");
            let text = std::fs::read_to_string(&f).expect("compose");
            let text = text.replace(
                "    command: [\"httpd\", \"-f\", \"-p\", \"16686\", \"-h\", \"/www\"]\n",
                service_yaml,
            );
            std::fs::write(&f, text).expect("write");
            let start = Instant::now();
            let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", "90"]);
            let took = start.elapsed();
            r.code(2).stderr_has("container jaeger died").stderr_has("last log lines of jaeger").stderr_has("jaeger: ");
            assert!(took < Duration::from_secs(40), "waited {took:?} instead of stopping early");
            assert!(docker_objects("ktrdr--die").is_empty(), "failed start cleaned up");
            format!("gate stopped after {:.1} s (timeout 90 s), named jaeger and showed its logs; nothing left running", took.as_secs_f64())
        });
    }
}
