//! Security: secrets never on disk or in output; no shell; deliberate permissions;
//! destroy never follows a symlink out of the instance.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::Tally;
use crate::harness::{Env, add_unstartable_service, git, snapshot};

const SECRET: &str = "S3CRET-0xRELIABILITY-db";
const JWT: &str = "S3CRET-0xRELIABILITY-jwt";

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

pub fn run(t: &mut Tally) {
    {
        t.docker_case("security", "secrets never reach disk or output", || {
            let mut env = Env::with_docker().expect("docker");
            env.op_sign_in();
            env.op_item("ktrdr-sandbox-dev", &[("db_password", SECRET), ("jwt_secret", JWT)]);
            let repo = env.clone_repo("ktrdr-sec");
            let wt = env.create_sandbox(&repo, "s");
            let mut runs = vec![env.kinfra(&wt, &["sandbox", "up"])];
            runs.push(env.kinfra(&wt, &["sandbox", "up"])); // again: running
            runs.push(env.kinfra(&wt, &["sandbox", "status", "--json"]));
            runs.push(env.kinfra(&wt, &["sandbox", "status"]));
            runs.push(env.kinfra(&wt, &["sandbox", "list", "--json"]));
            runs.push(env.kinfra(&wt, &["sandbox", "logs", "-n", "50"]));
            env.kinfra(&wt, &["sandbox", "down"]).success();
            // An error before secrets are read: a port conflict.
            let holder = std::net::TcpListener::bind(("0.0.0.0", 5433)).expect("bind 5433");
            let r = env.kinfra(&wt, &["sandbox", "up"]);
            r.code(3).stderr_has("5433");
            runs.push(r);
            drop(holder);
            // Errors after they are loaded: compose fails (its stderr is shown, and
            // its environment holds the secrets), then the gate fails.
            add_unstartable_service(&wt);
            let r = env.kinfra(&wt, &["sandbox", "up"]);
            r.code(1).stderr_has("2 secret(s) loaded").stderr_has("docker compose failed");
            runs.push(r);
            git(&wt, &["checkout", "--", "docker-compose.sandbox.yml"]);
            std::fs::remove_file(wt.join("backend/www/api/v1/workers")).expect("rm");
            let r = env.kinfra(&wt, &["sandbox", "up", "--timeout", "1"]);
            r.code(2).stderr_has("2 secret(s) loaded").stderr_has("startability gate failed");
            runs.push(r);
            git(&wt, &["checkout", "--", "backend/www/api/v1/workers"]);
            for r in &runs {
                for s in [SECRET, JWT] {
                    assert!(!r.stdout.contains(s) && !r.stderr.contains(s), "secret printed\n{r}");
                }
            }
            let mut scanned = 0;
            for dir in [&env.work, &env.kinfra_home, &env.home] {
                for (p, bytes) in snapshot(dir) {
                    if p.components().any(|c| c.as_os_str() == ".git") {
                        continue;
                    }
                    scanned += 1;
                    let text = String::from_utf8_lossy(&bytes);
                    assert!(!text.contains(SECRET) && !text.contains(JWT), "secret on disk: {}", p.display());
                }
            }
            env.kinfra(&wt, &["sandbox", "destroy", "--force"]).success();
            format!("{} commands' output (text, --json, logs, errors) and {scanned} files scanned: no secret", runs.len())
        });
    }

    t.case("security", "external commands run without a shell", || {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let mut shells = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read");
            let rel = f.strip_prefix(&src).expect("prefix").display().to_string();
            if rel != "support/exec.rs" {
                assert!(!text.contains("Command::new("), "{rel} builds a process outside support/exec.rs");
            }
            // Unit tests (after `#[cfg(test)]`) may run sh themselves; kinfra may not.
            for (i, line) in text.lines().enumerate().take_while(|(_, l)| !l.contains("#[cfg(test)]")) {
                if line.contains("\"sh\"") || line.contains("\"bash\"") {
                    shells.push(format!("{rel}:{}", i + 1));
                }
            }
        }
        // The only shells are inside containers, with scripts compiled into kinfra:
        // the post-start step, `shell`'s bash-or-sh chooser, and the data copy's probe
        // and copy (volume names reach it as `-v` arguments, never in the script).
        // No user input reaches them.
        let allowed = |s: &String| {
            s.starts_with("instance/lifecycle/up.rs:")
                || s.starts_with("instance/lifecycle/ops.rs:")
                || s.starts_with("data/engine.rs:")
        };
        let bad: Vec<&String> = shells.iter().filter(|s| !allowed(s)).collect();
        assert!(bad.is_empty(), "shell use outside the allowed places: {bad:?}");
        format!(
            "{} source files: processes are built only in support/exec.rs, with argument lists; shells only inside containers ({})",
            files.len(),
            shells.join(", ")
        )
    });

    t.case("security", "files get deliberate permissions", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-perm");
        env.kinfra(&repo, &["sandbox", "init"]).success();
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&env.registry_path()), 0o600, "registry private");
        assert_eq!(mode(&repo.join(".env.sandbox")), 0o644);
        for (p, _) in snapshot(&env.kinfra_home) {
            let m = mode(&p);
            assert_eq!(m & 0o002, 0, "world-writable: {}", p.display());
        }
        "registry 0600, .env.sandbox 0644, nothing kinfra writes is world-writable".into()
    });

    {
        t.docker_case("security", "destroy never follows a symlink out of the instance", || {
            let mut env = Env::with_docker().expect("docker");
            let repo = env.clone_repo("ktrdr-link");
            let precious = env.base().join("precious");
            std::fs::create_dir_all(precious.join("deep")).expect("mkdir");
            std::fs::write(precious.join("deep/thesis.txt"), "irreplaceable").expect("write");
            let before = snapshot(&precious);

            // A link inside the worktree pointing outside it.
            let wt = env.create_sandbox(&repo, "l1");
            std::os::unix::fs::symlink(&precious, wt.join("data-link")).expect("symlink");
            env.kinfra(&wt, &["sandbox", "destroy", "--force"]).success();
            assert!(!wt.exists());
            crate::assert_intact("the linked directory", &before, &precious);

            // The registered path itself replaced by a link to somewhere else.
            let wt2 = env.create_sandbox(&repo, "l2");
            let moved = env.base().join("moved-l2");
            std::fs::rename(&wt2, &moved).expect("mv");
            std::os::unix::fs::symlink(&precious, &wt2).expect("symlink");
            env.kinfra(&repo, &["sandbox", "destroy", "l2", "--force"]).success().stderr_has("symbolic link");
            crate::assert_intact("the linked directory", &before, &precious);
            assert!(moved.join(".git").is_file(), "the real worktree was not touched either");
            "a link inside a worktree and a registered path that is a link: the linked directory is untouched".into()
        });
    }
}
