//! Bad input: each gives a clear message, a specific non-zero exit, no panic, and
//! changes nothing it should not.

use crate::Tally;
use crate::harness::{Env, docker_objects, snapshot};

pub fn run(t: &mut Tally) {
    t.case("bad input", "names", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-names");
        let before = snapshot(&env.work);
        let long = "n".repeat(300);
        let bad = ["", &long, "../..", "日本語", "$$$", "!!!", "   ", "/", "..", "-", "\u{0}"];
        let mut tried = 0;
        for name in bad {
            if name.contains('\0') {
                continue; // the OS refuses NUL in arguments before kinfra sees it
            }
            for args in [vec!["sandbox", "create", name], vec!["sandbox", "init", "--name", name]] {
                let r = env.kinfra(&repo, &args);
                r.code(2).stderr_has("error:").stderr_has("hint:").no_panic();
                tried += 1;
            }
        }
        crate::assert_intact("names", &before, &env.work);
        // Names that are unusual but sluggable are made safe, never interpreted.
        for (name, slug) in [("a b", "a-b"), ("$(touch x)", "touch-x"), ("; rm -rf ~", "rm--rf"), ("Ünïcødé mix", "n-c-d-mix")] {
            env.kinfra(&repo, &["sandbox", "create", name]).success();
            assert!(env.work.join(format!("ktrdr--{slug}")).is_dir(), "{name} -> {slug}");
            env.kinfra(&repo, &["sandbox", "destroy", slug]).success();
            tried += 1;
        }
        assert!(!repo.join("x").exists());
        format!("{tried} names: unusable ones exit 2 with a hint and change nothing; the rest become safe slugs")
    });

    t.case("bad input", "slot values", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-slots");
        let mut n = 0;
        for slot in ["-1", "0", "11", "x", "999999999999999999999", "", "1.5", "3a"] {
            for cmd in [vec!["sandbox", "init", "--slot", slot], vec!["sandbox", "create", "s", "--slot", slot]] {
                env.kinfra(&repo, &cmd).code(2).stderr_has("slots 1 to 10").no_panic();
                n += 1;
            }
        }
        assert!(!env.registry_path().exists() && !env.work.join("ktrdr--s").exists());
        // Surrounding spaces are tolerated.
        env.kinfra(&repo, &["sandbox", "init", "--slot", " 3"]).success();
        assert_eq!(env.registry()["instances"]["ktrdr-slots"]["slot"], 3);
        n += 1;
        format!("{n} tries: out-of-range, negative, non-numeric and empty slots exit 2 naming the valid range")
    });

    t.case("bad input", "setup --path values", || {
        let env = Env::new();
        let file = env.work.join("a-file");
        std::fs::write(&file, "x").expect("write");
        let busy = env.work.join("busy");
        std::fs::create_dir_all(&busy).expect("mkdir");
        std::fs::write(busy.join("mine.txt"), "mine").expect("write");
        std::fs::write(env.home.join(".profile"), "# user's").expect("write");
        let before = snapshot(&env.work);
        let cases: Vec<(String, i32, &str)> = vec![
            (format!("--path={}", file.display()), 2, "not a directory"),
            (format!("--path={}", busy.display()), 2, "not empty"),
            ("--path=/proc/kinfra-test/ktrdr-prod".into(), 1, "could not create"),
            ("--path=~".into(), 2, "not empty"),
        ];
        let mut n = 0;
        for (arg, code, says) in &cases {
            let r = env.setup(&env.work, &["--non-interactive", "--demo", arg], &[]);
            if r.code == 7 && r.stderr.contains("required tool is missing") {
                crate::skip(&format!("prerequisites missing here: {}", r.stderr.trim()));
            }
            r.code(*code).stderr_has(says).no_panic();
            n += 1;
        }
        crate::assert_intact("setup --path", &before, &env.work);
        assert!(env.home.join(".profile").is_file());
        // A relative path is taken from the current directory.
        env.setup(
            &env.work,
            &["--non-interactive", "--demo", "--path=rel/ktrdr-prod", "--skip-shared"],
            &[],
        )
        .success();
        assert!(env.work.join("rel/ktrdr-prod/.env.sandbox").is_file());
        env.kinfra(&env.work, &["local-prod", "destroy", "--force"]).success();
        n += 1;
        format!("{n} paths (a file, a non-empty directory, an unwritable parent, ~, a relative path): clear errors and nothing changed; the relative one resolved from the current directory")
    });

    t.case("bad input", ".env.sandbox edited by hand", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-envedit");
        env.kinfra(&repo, &["sandbox", "init"]).success();
        let f = repo.join(".env.sandbox");
        let good = std::fs::read_to_string(&f).expect("read");
        let cases = [
            (good.replace("KTRDR_DB_PORT=", "#KTRDR_DB_PORT="), "KTRDR_DB_PORT is missing"),
            (good.replace("KTRDR_API_PORT=8001", "KTRDR_API_PORT=eighty"), "KTRDR_API_PORT"),
            (good.replace("KTRDR_API_PORT=8001", "KTRDR_API_PORT=0"), "port number"),
            (good.replace("KTRDR_API_PORT=8001", "KTRDR_API_PORT=65536"), "port number"),
            (good.replace("SLOT_NUMBER=1", "SLOT_NUMBER=42"), "SLOT_NUMBER"),
            (format!("{good}KTRDR_API_PORT=9000\n"), "set twice"),
            (format!("{good}this is not a pair\n"), "expected KEY=VALUE"),
        ];
        let n = cases.len();
        for (bad, says) in cases {
            std::fs::write(&f, &bad).expect("write");
            for cmd in [&["sandbox", "status"][..], &["sandbox", "up", "--no-secrets"][..], &["sandbox", "down"][..]] {
                env.kinfra(&repo, cmd).code(6).stderr_has(says).stderr_has(".env.sandbox").no_panic();
            }
            assert_eq!(std::fs::read_to_string(&f).expect("read"), bad, "left as it was");
        }
        std::fs::write(&f, format!("\u{feff}{}", good.replace('\n', "\r\n"))).expect("write");
        let r = env.kinfra(&repo, &["sandbox", "status", "--json"]);
        assert!(r.code == 0 || r.code == 7, "CRLF + BOM read fine\n{r}");
        format!("{n} edits × status/up/down: exit 6 naming the file and the key, file untouched; CRLF and BOM accepted")
    });

    t.case("bad input", "registry edited by hand", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-regedit");
        env.kinfra(&repo, &["sandbox", "init"]).success();
        let good = std::fs::read_to_string(env.registry_path()).expect("read");
        let cases = vec![
            good[..good.len() / 2].to_string(),
            good.replace("\"slot\": 1", "\"slot\": \"one\""),
            good.replace("\"slot\": 1", "\"slot\": 1, \"owner\": \"me\""),
            good.replace("\"version\": 1", "\"version\": 99"),
            good.replace("\"is_worktree\": false", "\"is_worktree\": \"no\""),
            "[]".into(),
            "".into(),
        ];
        let n = cases.len();
        for bad in cases {
            std::fs::write(env.registry_path(), &bad).expect("write");
            for cmd in [
                &["sandbox", "list"][..],
                &["sandbox", "init"][..],
                &["sandbox", "prune"][..],
                &["sandbox", "destroy", "x"][..],
            ] {
                env.kinfra(&repo, cmd)
                    .code(6)
                    .stderr_has("instances.json")
                    .no_panic();
            }
            assert_eq!(
                std::fs::read_to_string(env.registry_path()).expect("read"),
                bad,
                "left byte-for-byte"
            );
        }
        std::fs::remove_file(env.registry_path()).expect("rm");
        let elsewhere = env.base().join("elsewhere.json");
        std::fs::write(&elsewhere, &good).expect("write");
        std::os::unix::fs::symlink(&elsewhere, env.registry_path()).expect("symlink");
        env.kinfra(&repo, &["sandbox", "list"])
            .code(6)
            .stderr_has("symbolic link");
        assert_eq!(std::fs::read_to_string(&elsewhere).expect("read"), good);
        format!(
            "{} registry edits × list/init/prune/destroy: exit 6, file left byte-for-byte",
            n + 1
        )
    });

    {
        t.docker_case("bad input", "missing or invalid compose file", || {
            let mut env = Env::with_docker().expect("docker");
            let repo = env.clone_repo("ktrdr-compose");
            let wt = env.create_sandbox(&repo, "c");
            std::fs::write(wt.join("docker-compose.sandbox.yml"), "services: [this is: not valid\n").expect("write");
            env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).code(1).stderr_has("docker compose failed").no_panic();
            assert!(docker_objects("ktrdr--c").is_empty());
            // Missing: refused by name (kinfra runs the repository's own file).
            std::fs::remove_file(wt.join("docker-compose.sandbox.yml")).expect("rm");
            let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
            r.code(2).stderr_has("has no docker-compose.sandbox.yml").no_panic();
            assert!(!env.kinfra_home.join("compose").exists());
            assert!(docker_objects("ktrdr--c").is_empty());
            "invalid compose file: exit 1 quoting compose; missing: exit 2 naming it; nothing left running".into()
        });

        t.docker_case("bad input", "op that prints garbage, fails, or hangs", || {
            let mut env = Env::with_docker().expect("docker");
            let repo = env.clone_repo("ktrdr-op");
            let wt = env.create_sandbox(&repo, "o");
            env.op_sign_in();
            let items = env.op_dir().join("items");
            std::fs::create_dir_all(&items).expect("mkdir");
            std::fs::write(items.join("ktrdr-sandbox-dev.json"), "{{{ not json").expect("write");
            env.kinfra(&wt, &["sandbox", "up", "--no-wait"]).success().stderr_has("not an item");
            // A failing op: its own words are passed on (kinfra asks for the item
            // directly, no `op whoami` first).
            let bad_op = env.base().join("bad-op");
            std::fs::create_dir_all(&bad_op).expect("mkdir");
            std::fs::write(bad_op.join("op"), "#!/bin/sh\necho 'segfault' >&2\nexit 139\n").expect("write");
            std::fs::write(env.base().join("hang-op"), "").expect("write");
            let hang = env.base().join("hang-bin");
            std::fs::create_dir_all(&hang).expect("mkdir");
            std::fs::write(hang.join("op"), "#!/bin/sh\nsleep 600\n").expect("write");
            use std::os::unix::fs::PermissionsExt;
            for d in [&bad_op, &hang] {
                std::fs::set_permissions(d.join("op"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
            }
            let path = |d: &std::path::Path| format!("{}:{}", d.display(), std::env::var("PATH").unwrap_or_default());
            env.kinfra_env(&wt, &["sandbox", "up", "--no-wait"], &[("PATH", &path(&bad_op))])
                .success()
                .stderr_has("could not be read: segfault");
            let start = std::time::Instant::now();
            env.kinfra_env(&wt, &["sandbox", "up", "--no-wait"], &[("PATH", &path(&hang)), ("KINFRA_OP_TIMEOUT_SECS", "2")])
                .success()
                .stderr_has("did not answer within 2 s");
            assert!(start.elapsed() < std::time::Duration::from_secs(60));
            env.kinfra(&wt, &["sandbox", "destroy"]).success();
            "garbage, a crash and a hang each give a warning and the insecure defaults; the hang is cut at the limit".into()
        });
    }
}
