//! The smaller commands: doctor, completions, init-shared, shell, logs.

use crate::docker_env;
use crate::harness::{BIN, Env, output_with_stdin};

/// What the shell's completion script gets for `kinfra ARGS…` (the last one is the
/// word being completed), through the fish protocol: one candidate per line.
fn complete(env: &Env, cwd: &std::path::Path, args: &[&str]) -> String {
    let mut full = vec!["--", "kinfra"];
    full.extend_from_slice(args);
    let r = env.kinfra_env(cwd, &full, &[("KINFRA_COMPLETE", "fish")]);
    r.success();
    r.stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn completions_and_help_are_generated() {
    let mut env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let r = env.kinfra(&env.work, &["completions", shell]);
        r.success().stdout_has("KINFRA_COMPLETE");
    }
    // Subcommands, then the registry's names and free slots (no Docker needed).
    assert!(complete(&env, &env.work, &["local"]).contains("local-prod\n"));
    let repo = env.clone_repo("ktrdr");
    env.kinfra(&repo, &["sandbox", "init", "--slot", "2"])
        .success();
    let names = complete(&env, &env.work, &["sandbox", "destroy", ""]);
    assert!(
        names.contains("ktrdr\n") || names.contains("ktrdr-"),
        "{names}"
    );
    let slots = complete(&env, &env.work, &["sandbox", "create", "x", "--slot", ""]);
    assert!(slots.starts_with("1\n3\n4\n"), "slot 2 is taken: {slots}");
    let release = complete(&env, &env.work, &["sandbox", "release", ""]);
    assert!(release.starts_with("2\n"), "{release}");
    env.kinfra(&env.work, &["completions", "tcsh"])
        .code(2)
        .stderr_has("invalid value");
    let help = env.kinfra(&env.work, &["sandbox", "destroy", "--help"]);
    help.success()
        .stdout_has("--keep-worktree")
        .stdout_has("would be lost");
    env.kinfra(&env.work, &["--help"])
        .success()
        .stdout_has("Exit codes");
}

#[test]
fn init_shared_copies_reports_and_never_overwrites() {
    let env = Env::new();
    let src = env.work.join("old-checkout");
    for (f, body) in [
        ("data/AAPL/1d.csv", "a,b\n1,2\n"),
        ("models/m1/model.pt", "weights"),
        ("strategies/s.yaml", "name: s\n"),
    ] {
        let p = src.join(f);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, body).expect("write");
    }
    let shared = env.kinfra_home.join("shared");
    // Report mode on nothing: says how to create it, changes nothing.
    env.kinfra(&env.work, &["sandbox", "init-shared"])
        .success()
        .stdout_has("--minimal");
    assert!(!shared.exists());
    // A file already there is kept.
    std::fs::create_dir_all(shared.join("strategies")).expect("mkdir");
    std::fs::write(shared.join("strategies/s.yaml"), "mine\n").expect("write");
    let r = env.kinfra(
        &env.work,
        &[
            "sandbox",
            "init-shared",
            "--from",
            src.to_str().expect("utf8"),
        ],
    );
    r.success()
        .stdout_has("Copied 2 file(s)")
        .stdout_has("1 already present and kept");
    assert_eq!(
        std::fs::read_to_string(shared.join("data/AAPL/1d.csv")).expect("read"),
        "a,b\n1,2\n"
    );
    assert_eq!(
        std::fs::read_to_string(shared.join("strategies/s.yaml")).expect("read"),
        "mine\n"
    );
    env.kinfra(&env.work, &["sandbox", "init-shared"])
        .success()
        .stdout_has("data        1 file(s)");
    // Bad sources: a clear error, nothing changed.
    let empty = env.work.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    env.kinfra(
        &env.work,
        &[
            "sandbox",
            "init-shared",
            "--from",
            empty.to_str().expect("utf8"),
        ],
    )
    .code(2)
    .stderr_has("has none of data, models, strategies");
    env.kinfra(
        &env.work,
        &["sandbox", "init-shared", "--from", "/nonexistent/x"],
    )
    .code(1)
    .stderr_has("cannot read the source checkout");
    env.kinfra(
        &env.work,
        &["sandbox", "init-shared", "--from", "x", "--minimal"],
    )
    .code(2);
}

#[test]
fn doctor_agrees_with_setup_check_only() {
    let env = crate::docker_env!();
    let d = env.kinfra(&env.work, &["doctor", "--json"]);
    let s = env.setup(&env.work, &["--check-only", "--json"], &[]);
    assert_eq!(d.code, s.code, "{d}\n{s}");
    let names = |v: serde_json::Value| -> Vec<(String, String)> {
        v.as_array()
            .expect("array")
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().expect("n").to_string(),
                    c["status"].as_str().expect("s").to_string(),
                )
            })
            .collect()
    };
    // The same tools, then kinfra's own state.
    let (tools, own) = {
        let all = names(d.json());
        let n = names(s.json()).len();
        (all[..n].to_vec(), all[n..].to_vec())
    };
    assert_eq!(tools, names(s.json()));
    let own: Vec<&str> = own.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        own,
        [
            "stack description",
            "registry",
            "stale entries",
            "orphaned projects",
            "local-prod ports",
            "install directory"
        ]
    );
    env.kinfra(&env.work, &["doctor"])
        .stdout_has("docker engine");
}

#[test]
fn doctor_checks_kinfras_own_state_and_changes_nothing() {
    let mut env = crate::docker_env!();
    let bin_dir = std::path::Path::new(crate::harness::BIN)
        .parent()
        .unwrap()
        .display()
        .to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    // A clean home: ready, the binary's directory on PATH.
    env.kinfra_env(&env.work, &["doctor"], &[("PATH", &path)])
        .stdout_has("registry          ok")
        .stdout_has("install directory ok");
    // Not on PATH: a warning with the line to add.
    env.kinfra_env(
        &env.work,
        &["doctor"],
        &[("PATH", "/usr/local/bin:/usr/bin:/bin")],
    )
    .stdout_has("install directory warning")
    .stdout_has(&format!("export PATH=\"{bin_dir}:$PATH\""));
    // A sandbox whose directory is gone: a stale entry, and the fix.
    let repo = env.clone_repo("ktrdr");
    let wt = env.create_sandbox(&repo, "gone");
    std::fs::remove_dir_all(&wt).unwrap();
    env.kinfra_env(&env.work, &["doctor"], &[("PATH", &path)])
        .stdout_has("stale entries     warning")
        .stdout_has("ktrdr--gone")
        .stdout_has("fix: kinfra sandbox prune");
    // An unreachable DOCKER_HOST is named as the cause, not "install Docker".
    env.kinfra_env(
        &env.work,
        &["doctor"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:9")],
    )
    .code(7)
    .stdout_has("DOCKER_HOST points to tcp://127.0.0.1:9")
    .stdout_has("unset DOCKER_HOST");
    // A registry that does not parse: a problem, exit 6, the file as it was.
    std::fs::write(env.registry_path(), "{not json").unwrap();
    env.kinfra_env(&env.work, &["doctor"], &[("PATH", &path)])
        .code(6)
        .stdout_has("registry          problem")
        .stdout_has("problem");
    assert_eq!(
        std::fs::read_to_string(env.registry_path()).unwrap(),
        "{not json"
    );
    std::fs::remove_file(env.registry_path()).unwrap();
}

#[test]
fn shell_runs_in_the_service_and_logs_show_output() {
    let mut env = docker_env!();
    let repo = env.clone_repo("ktrdr-sh");
    let wt = env.create_sandbox(&repo, "sh");
    // Not running yet: a clear error naming the service.
    env.kinfra(&wt, &["sandbox", "shell"])
        .code(2)
        .stderr_has("backend")
        .stderr_has("not running");
    env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--no-wait"])
        .success();
    let out = output_with_stdin(
        &mut env.command(BIN, &wt, &["sandbox", "shell", "backend"], &[]),
        b"ls /app/www/api/v1; exit 3\n",
    );
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("workers"));
    // The db service writes a line we can find: httpd logs nothing by itself.
    let db = crate::harness::container_of("ktrdr--sh", "db");
    crate::harness::docker(&[
        "exec",
        &db,
        "sh",
        "-c",
        "echo kinfra-log-probe > /proc/1/fd/1",
    ]);
    // The engine copies a container's output into its log on its own time (later
    // still under load): waited for there, then asked of kinfra.
    crate::harness::eventually("the probe reaches db's log", || {
        crate::harness::docker(&["logs", "--tail", "5", &db]).contains("kinfra-log-probe")
    });
    let logs = env.kinfra(&wt, &["sandbox", "logs", "db", "-n", "5"]);
    logs.success().stdout_has("kinfra-log-probe");
    // A service the instance does not have: exit 2 with the services, sorted.
    env.kinfra(&wt, &["sandbox", "logs", "nosuchsvc"])
        .code(2)
        .stderr_has("no service \"nosuchsvc\"")
        .stderr_has(&format!(
            "services: {}",
            crate::harness::shape().first_services
        ));
    let out = output_with_stdin(
        &mut env.command(BIN, &wt, &["sandbox", "shell", "nosuch"], &[]),
        b"exit 0\n",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no service \"nosuch\"")
            && err.contains(&format!(
                "(services: {},",
                crate::harness::shape()
                    .first_services
                    .split(',')
                    .next()
                    .unwrap_or("")
            )),
        "{err}"
    );
    // <TAB> after `logs` offers the running instance's services, sorted.
    let tab = complete(&env, &wt, &["sandbox", "logs", ""]);
    let first: Vec<String> = crate::harness::shape()
        .first_services
        .split(", ")
        .take(2)
        .map(|s| format!("{s}\n"))
        .collect();
    assert!(tab.starts_with(&first.concat()), "{tab}");
    assert!(tab.contains("\ndb\n"), "{tab}");
    // An unknown compose variant is an error, not a silent guess.
    env.kinfra_env(
        &wt,
        &["sandbox", "up", "--no-secrets"],
        &[("KINFRA_COMPOSE", "v3")],
    )
    .code(2)
    .stderr_has("KINFRA_COMPOSE=\"v3\"")
    .stderr_has("plugin");
    // Only the service asked for.
    let backend_only = env.kinfra(&wt, &["sandbox", "logs", "backend", "-n", "50"]);
    assert!(
        !backend_only.success().stdout.contains("kinfra-log-probe"),
        "{backend_only}"
    );
    // Stopped, an unknown service is still an error naming the services: the compose
    // file's, read without running anything.
    env.kinfra(&wt, &["sandbox", "down"]).success();
    for args in [
        ["sandbox", "logs", "nosuchsvc"],
        ["sandbox", "shell", "nosuchsvc"],
    ] {
        let r = env.kinfra(&wt, &args);
        r.code(2).stderr_has("no service \"nosuchsvc\"");
        let listed = r.stderr.split("services: ").nth(1).unwrap_or("");
        assert!(listed.contains("backend") && listed.contains("db"), "{r}");
    }
    env.kinfra(&wt, &["sandbox", "destroy"]).success();
}

/// A snapshot whose engine is gone for good, or whose record names an engine kinfra
/// will not dial, cannot be reached to be removed, and held `engine rm` forever:
/// `snapshot rm --forget` drops its record only and dials nothing; a snapshot on
/// this machine's engine is refused it (`snapshot rm` removes it whole); an unknown
/// name is not found. No Docker: nothing here may reach an engine.
#[test]
fn a_snapshot_whose_engine_is_gone_is_forgotten_and_nothing_is_dialled() {
    let env = Env::new();
    let repo = crate::harness::project(
        &env,
        "fgt",
        &[
            (
                "compose.yaml",
                "services:\n  web:\n    image: busybox:1.35\n",
            ),
            (
                "kinfra.toml",
                "name = \"fgt\"\ncompose_file = \"compose.yaml\"\n",
            ),
        ],
    );
    let marker = env.base().join("dialled");
    let side = env.registry_path().with_file_name("kinfra.json");
    std::fs::create_dir_all(side.parent().expect("dir")).expect("dir");
    let odd = format!("-oProxyCommand=touch {}", marker.display());
    let doc = serde_json::json!({
        "version": 1,
        "snapshots": {
            "fgt/far": {"bytes": 1, "method": "copy", "engine": "ghost"},
            "fgt/odd": {"bytes": 1, "method": "copy", "engine": odd},
            "fgt/here": {"bytes": 1, "method": "copy"},
        }
    });
    std::fs::write(&side, doc.to_string()).expect("kinfra.json");
    let plain = env.kinfra(&repo, &["snapshot", "rm", "far"]);
    assert_ne!(plain.code, 0, "{plain}");
    plain.no_panic();
    env.kinfra(&repo, &["snapshot", "rm", "far", "--forget"])
        .success()
        .stderr_has("forgot snapshot far")
        .stderr_has("engine ghost");
    env.kinfra(&repo, &["snapshot", "rm", "odd", "--forget"])
        .success();
    env.kinfra(&repo, &["snapshot", "rm", "here", "--forget"])
        .code(2)
        .stderr_has("on this machine's engine");
    let missing = env.kinfra(&repo, &["snapshot", "rm", "nope", "--forget"]);
    missing.stderr_has("no snapshot \"nope\" of fgt").no_panic();
    assert_ne!(missing.code, 0, "{missing}");
    let left: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&side).expect("kinfra.json")).expect("JSON");
    let keys: Vec<&String> = left["snapshots"]
        .as_object()
        .expect("snapshots")
        .keys()
        .collect();
    assert_eq!(keys, ["fgt/here"], "{left}");
    assert!(!marker.exists(), "an engine named in a record was dialled");
}
