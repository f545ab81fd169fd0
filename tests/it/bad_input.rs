//! Bad names and values: a clear message, a specific exit code, no panic, no change.

use crate::harness::Env;

#[test]
fn bad_slots_are_refused_clearly() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-b");
    for (slot, says) in [
        ("0", "local-prod"),
        ("11", "out of range"),
        ("x", "not a number"),
        ("-1", "out of range"),
    ] {
        let r = env.kinfra(&dir, &["sandbox", "init", "--slot", slot]);
        r.code(2).stderr_has(says).stderr_has("1 to 10").no_panic();
        let r = env.kinfra(&dir, &["sandbox", "create", "n", "--slot", slot]);
        r.code(2).stderr_has(says).no_panic();
    }
    // `release 0` says why local-prod is not released.
    env.kinfra(&dir, &["sandbox", "release", "0"])
        .code(2)
        .stderr_has("slot 0 is local-prod's")
        .stderr_has("local-prod destroy");
    assert!(!env.registry_path().exists());
    assert!(!dir.join(".env.sandbox").exists());
}

#[test]
fn bad_names_are_refused_clearly() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-n");
    let long = "x".repeat(300);
    for name in ["", "$$$", "../..", "日本語", "   ", long.as_str()] {
        let r = env.kinfra(&dir, &["sandbox", "create", name]);
        r.code(2).stderr_has("name").stderr_has("hint:").no_panic();
        let r = env.kinfra(&dir, &["sandbox", "init", "--name", name]);
        r.code(2).no_panic();
    }
    assert!(
        !env.registry_path().exists()
            || env.registry()["instances"]
                .as_object()
                .is_none_or(|o| o.is_empty())
    );
    let siblings: Vec<_> = std::fs::read_dir(&env.work)
        .expect("ls")
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(siblings.len(), 1, "no directory was created: {siblings:?}");
}

#[test]
fn shell_metacharacters_become_a_safe_slug() {
    let mut env = Env::new();
    let dir = env.clone_repo("ktrdr-m");
    let r = env.kinfra(
        &dir,
        &["sandbox", "create", "x; touch pwned $(touch pwned2) `id`"],
    );
    r.success()
        .stderr_has("name made safe")
        .stderr_has("-> x-touch-pwned-touch-pwned2-id");
    let made = env.work.join("ktrdr--x-touch-pwned-touch-pwned2-id");
    assert!(made.join(".env.sandbox").is_file(), "{r}");
    assert!(
        !dir.join("pwned").exists()
            && !env.work.join("pwned").exists()
            && !env.work.join("pwned2").exists()
    );
    // Branch name too.
    assert_eq!(
        crate::harness::git(&made, &["branch", "--show-current"]).trim(),
        "x-touch-pwned-touch-pwned2-id"
    );
}

#[test]
fn outside_a_repository_or_a_non_ktrdr_one() {
    let env = Env::new();
    let plain = env.work.join("plain");
    std::fs::create_dir_all(&plain).expect("mkdir");
    env.kinfra(&plain, &["sandbox", "init"])
        .code(2)
        .stderr_has("not inside a git repository");
    crate::harness::git(&plain, &["init", "-q"]);
    crate::harness::git(
        &plain,
        &[
            "remote",
            "add",
            "origin",
            "https://example.invalid/other.git",
        ],
    );
    // Not KTRDR's, and no compose file to infer a stack from: said so.
    env.kinfra(&plain, &["sandbox", "init"])
        .code(2)
        .stderr_has("has no compose file")
        .stderr_has("COMPOSE_FILE");
    env.kinfra(&plain, &["local-prod", "init"])
        .code(2)
        .stderr_has("has no compose file");
    env.kinfra(&plain, &["sandbox", "up"])
        .code(4)
        .stderr_has("no kinfra instance");
    env.kinfra(&plain, &["sandbox", "destroy", "nope"])
        .code(4)
        .stderr_has("no sandbox named");
    env.kinfra(&plain, &["local-prod", "destroy", "--force"])
        .code(4)
        .stderr_has("no local-prod");
}

#[test]
fn a_hand_edited_env_file_is_reported_not_used() {
    // Docker: the last step reads the instance's state from it.
    let mut env = crate::docker_env!();
    let dir = env.clone_repo("ktrdr-e");
    env.kinfra(&dir, &["sandbox", "init"]).success();
    let f = dir.join(".env.sandbox");
    let good = std::fs::read_to_string(&f).expect("read");
    for (bad, says) in [
        (
            good.replace("KTRDR_API_PORT=8001", "KTRDR_API_PORT=80x1"),
            "KTRDR_API_PORT",
        ),
        (
            good.replace("KTRDR_DB_PORT=5433\n", ""),
            "KTRDR_DB_PORT is missing",
        ),
        (format!("{good}SLOT_NUMBER=2\n"), "set twice"),
        (
            good.replace("KTRDR_API_PORT=8001", "KTRDR_API_PORT=99999"),
            "port number",
        ),
    ] {
        std::fs::write(&f, &bad).expect("write");
        env.kinfra(&dir, &["sandbox", "status"])
            .code(6)
            .stderr_has(says)
            .stderr_has(".env.sandbox")
            .no_panic();
        assert_eq!(std::fs::read_to_string(&f).expect("read"), bad);
    }
    // CRLF and a BOM are read fine.
    std::fs::write(&f, format!("\u{feff}{}", good.replace('\n', "\r\n"))).expect("write");
    let r = env.kinfra(&dir, &["sandbox", "status", "--json"]);
    r.success();
    assert_eq!(r.json()["ports"]["KTRDR_API_PORT"], 8001, "{r}");
}

#[test]
fn a_checked_out_branch_and_an_unreachable_endpoint_are_explained() {
    let mut env = Env::new();
    let repo = env.clone_repo("ktrdr-br");
    let main = crate::harness::git(&repo, &["branch", "--show-current"]);
    let r = env.kinfra(
        &repo,
        &["sandbox", "create", "again", "--branch", main.trim()],
    );
    r.code(1)
        .stderr_has("already checked out")
        .stderr_has("leave out --branch")
        .no_panic();
    assert!(!env.work.join("ktrdr--again").exists(), "{r}");
    assert!(
        env.registry()["instances"].get("ktrdr--again").is_none(),
        "the failed create was undone\n{r}"
    );
    // An endpoint that does not answer is named, not "install Docker".
    env.kinfra(&repo, &["sandbox", "init"]).success();
    env.kinfra_env(
        &repo,
        &["sandbox", "status"],
        &[("DOCKER_HOST", "unix:///nonexistent/docker.sock")],
    )
    .code(7)
    .stderr_has("unix:///nonexistent/docker.sock")
    .stderr_has("set by DOCKER_HOST");
}

#[test]
fn list_columns_fit_long_names() {
    let mut env = Env::new();
    // Only reads of Docker's output: the fake answers, no engine is needed.
    env.fake_docker("", false);
    let repo = env.clone_repo("ktrdr-wide");
    let long = "a-rather-long-sandbox-name-for-a-feature-branch";
    env.kinfra(&repo, &["sandbox", "init", "--name", long])
        .success();
    let r = env.kinfra(&repo, &["sandbox", "list"]);
    r.success();
    let header = r.stdout.lines().next().expect("header");
    let row = r.stdout.lines().find(|l| l.contains(long)).expect("row");
    let col = |line: &str, word: &str| line.find(word).expect("column");
    // The state column starts where its header does, after the whole name.
    assert!(col(row, long) + long.len() < col(header, "STATE"), "{r}");
    assert_eq!(
        row[col(header, "STATE")..].split_whitespace().next(),
        Some("stopped"),
        "{r}"
    );
}

#[test]
fn doctor_and_completions_work_beside_a_broken_description() {
    // doctor is what a person runs when something is broken: the broken
    // kinfra.toml is one of its findings, not a reason to stop before auditing.
    let env = Env::new();
    let repo = crate::harness::project(
        &env,
        "broken",
        &[
            ("compose.yaml", "services: {}\n"),
            ("kinfra.toml", "name = \"Broken\"\nno_such_key = 1\n"),
        ],
    );
    env.kinfra(&repo, &["sandbox", "list"]).code(2).no_panic();
    let r = env.kinfra(&repo, &["doctor", "--json"]);
    r.no_panic();
    let checks = r.json();
    let rows = checks.as_array().expect("an array of checks");
    let desc = rows
        .iter()
        .find(|c| c["name"] == "stack description")
        .unwrap_or_else(|| panic!("the description is a finding\n{r}"));
    assert!(
        desc["detail"]
            .as_str()
            .unwrap_or("")
            .contains("kinfra.toml")
            && desc["required"] == true,
        "{desc}"
    );
    assert!(rows.iter().any(|c| c["name"] == "registry"), "{r}");
    assert_ne!(r.code, 0, "a broken description is not a clean bill\n{r}");
    env.kinfra(&repo, &["doctor"])
        .stdout_has("stack description")
        .no_panic();
    env.kinfra(&repo, &["completions", "bash"])
        .success()
        .stdout_has("kinfra");
}
