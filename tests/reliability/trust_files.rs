//! Untrusted input: the files a repository's compose model names (`env_file:`,
//! `secrets:` files, override files) are carried into a new worktree only when they
//! are regular files of a sane size inside the repository: a path climbing out, a
//! symlinked override pointing outside, a FIFO or a huge secret are refused with
//! their name and reason, and nothing outside the repository is read or copied.

use crate::Tally;
use crate::harness::{Env, git, project};

const NAMES_HOSTILE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    env_file: ["../../etc/passwd", "bad\nname.env"]
    secrets: [fifo, huge]
    stop_grace_period: 1s
secrets:
  fifo:
    file: ./secrets/fifo
  huge:
    file: ./secrets/huge.txt
"#;

pub fn run(t: &mut Tally) {
    t.case(
        "untrusted input",
        "files the compose model names outside the repository, FIFOs and huge ones are not carried",
        || {
            let env = Env::new();
            let repo = project(
                &env,
                "hostilefiles",
                &[
                    ("compose.yaml", NAMES_HOSTILE),
                    (".gitignore", "compose.override.yaml\nsecrets/\n"),
                ],
            );
            // Outside the repository: what a symlinked override would bring in.
            let outside = env.base().join("outside.yaml");
            std::fs::write(&outside, "services:\n  web:\n    ports: [\"18870:80\"]\n")
                .expect("write");
            std::os::unix::fs::symlink(&outside, repo.join("compose.override.yaml"))
                .expect("symlink");
            std::fs::create_dir_all(repo.join("secrets")).expect("mkdir");
            let fifo = repo.join("secrets/fifo");
            let made = std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .expect("mkfifo");
            assert!(made.success());
            let huge = std::fs::File::create(repo.join("secrets/huge.txt")).expect("create");
            huge.set_len(17 << 20).expect("sparse file");
            let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
            r.no_panic();
            assert_eq!(r.code, 0, "refusals are said, create goes on\n{r}");
            for said in [
                "not carried: \"../../etc/passwd\", which compose.yaml names (",
                "only files inside the repository",
                "not carried: \"bad\\nname.env\" ('\\n' in its name",
                "not carried: compose.override.yaml (",
                "not carried: secrets/fifo (not a regular file",
                "not carried: secrets/huge.txt (17825792 bytes, over the 16 MiB",
            ] {
                assert!(r.stderr.contains(said), "missing {said:?}\n{r}");
            }
            let wt = env.work.join("hostilefiles--a");
            for f in ["compose.override.yaml", "secrets/fifo", "secrets/huge.txt", "etc/passwd"] {
                assert!(
                    std::fs::symlink_metadata(wt.join(f)).is_err(),
                    "{f} reached the worktree\n{r}"
                );
            }
            // Nothing of the main clone or outside it changed.
            assert!(git(&repo, &["status", "--porcelain"]).trim().is_empty());
            assert!(
                std::fs::read_to_string(&outside)
                    .expect("read")
                    .contains("18870"),
            );
            assert_eq!(
                std::fs::metadata(repo.join("secrets/huge.txt")).expect("meta").len(),
                17 << 20
            );
            "six refusals named; nothing reached the worktree; the repository and the file outside unchanged".into()
        },
    );
}
