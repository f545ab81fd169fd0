//! kinfra-setup: the audit, the scripted flow on the demo repository, refusals, and
//! the interactive path through a pseudo-terminal.

use std::path::PathBuf;

use crate::docker_env;
use crate::harness::{Env, docker_objects, snapshot, staging_leftovers};

fn which(tool: &str) -> Option<PathBuf> {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!p.is_empty()).then(|| PathBuf::from(p))
}

/// The real uv binary (pyenv shims only work with their own PATH).
fn real_uv() -> PathBuf {
    let scripts = std::process::Command::new("python3")
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_path('scripts'))",
        ])
        .output()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default();
    let candidate = scripts.join("uv");
    if candidate.is_file() {
        candidate
    } else {
        which("uv").expect("uv is installed (scripts/test-deps.sh)")
    }
}

/// A PATH holding only the named tools (plus the fake op when asked).
fn tool_farm(env: &Env, tools: &[&str], with_op: bool) -> String {
    let farm = env
        .base()
        .join(format!("farm-{}-op{with_op}", tools.join("-")));
    std::fs::create_dir_all(&farm).expect("mkdir");
    for t in tools {
        let real = if *t == "uv" {
            Some(real_uv())
        } else {
            which(t)
        };
        if let Some(real) = real {
            let _ = std::os::unix::fs::symlink(real, farm.join(t));
        }
    }
    if with_op {
        let _ = std::fs::copy(env.bin.join("op"), farm.join("op"));
    }
    farm.display().to_string()
}

const ALL: &[&str] = &["git", "docker", "docker-compose", "uv"];

#[test]
fn check_only_reports_each_tool_and_exits_by_the_required_ones() {
    let env = crate::docker_env!();
    let cwd = env.work.clone();
    env.op_sign_in();

    let full = tool_farm(&env, ALL, true);
    let r = env.setup(&cwd, &["--check-only"], &[("PATH", &full)]);
    r.success()
        .stderr_has("git")
        .stderr_has("uv")
        .stderr_has("signed in")
        .stderr_has("ktrdr-local-prod");

    // Without op: a warning, still 0.
    let no_op = tool_farm(&env, ALL, false);
    let r = env.setup(&cwd, &["--check-only"], &[("PATH", &no_op)]);
    r.success()
        .stderr_has("1password cli     warning")
        .stderr_has("insecure default");

    // Without uv or docker: 1, and the fix.
    let no_uv = tool_farm(&env, &["git", "docker", "docker-compose"], true);
    env.setup(&cwd, &["--check-only"], &[("PATH", &no_uv)])
        .code(7)
        .stderr_has("uv                missing")
        .stderr_has("fix: pipx install uv");
    // doctor agrees: results on stdout, a verdict, the same exit code.
    env.kinfra_env(&cwd, &["doctor"], &[("PATH", &no_uv)])
        .code(7)
        .stdout_has("uv                missing")
        .stdout_has("1 problem");
    env.kinfra_env(&cwd, &["doctor"], &[("PATH", &full)])
        .success()
        .stdout_has("\nready");
    let no_docker = tool_farm(&env, &["git", "uv"], true);
    env.setup(&cwd, &["--check-only"], &[("PATH", &no_docker)])
        .code(7)
        .stderr_has("docker            missing")
        .stderr_has("fix: sudo apt-get install docker.io");

    // Scripted setup with uv missing stops, and what it made meanwhile (the clone
    // runs beside the audit) is removed again.
    let dest = env.work.join("made/by/setup");
    let r = env.setup(
        &cwd,
        &[
            "--non-interactive",
            "--demo",
            &format!("--path={}", dest.display()),
        ],
        &[("PATH", &no_uv)],
    );
    r.code(7).stderr_has("required tool is missing");
    assert!(!env.work.join("made").exists(), "{r}");

    // --json parses and agrees with the text.
    for path in [&full, &no_uv] {
        let text = env.setup(&cwd, &["--check-only"], &[("PATH", path)]);
        let json = env.setup(&cwd, &["--check-only", "--json"], &[("PATH", path)]);
        assert_eq!(json.code, text.code, "{json}");
        let checks = json.json();
        let checks = checks.as_array().expect("array");
        assert_eq!(checks.len(), 6);
        for c in checks {
            let name = c["name"].as_str().expect("name");
            let word = match c["status"].as_str().expect("status") {
                "ok" => "found",
                "warn" => "warning",
                "missing" => "missing",
                other => panic!("status {other}"),
            };
            assert!(
                text.stderr.contains(&format!("{name:<17} {word}")),
                "{name} {word} not in text\n{text}"
            );
            for k in ["version", "path", "hint"] {
                assert!(c.get(k).is_some(), "{k} missing in {c}");
            }
        }
    }
}

#[test]
fn scripted_demo_setup_resumes_starts_and_survives_local_prod_destroy() {
    let env = docker_env!();
    env.op_sign_in();
    let dest = env.work.join("deep/new/ktrdr-prod");
    let dest_s = format!("--path={}", dest.display());
    let r = env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &dest_s,
            "--shared-minimal",
            "--create-item",
        ],
        &[],
    );
    r.success()
        .stderr_has("Summary")
        .stderr_has("local-prod is not running")
        .stderr_has("kinfra local-prod up")
        .stderr_has("http://localhost:8000/api/v1")
        .stderr_has("kinfra sandbox create")
        .stderr_has("demo teardown")
        .stderr_has(
            "created ktrdr-local-prod with generated db_password, jwt_secret, grafana_password",
        );
    // The item follows op's template shape; generated values are never printed.
    let item: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(env.op_dir().join("items/ktrdr-local-prod.json")).expect("item"),
    )
    .expect("json");
    let fields = item["fields"].as_array().expect("fields");
    assert_eq!(fields.len(), 4);
    for f in fields {
        assert_eq!(f["type"], "CONCEALED");
        let v = f["value"].as_str().expect("value");
        if f["label"] == "anthropic_api_key" {
            assert_eq!(v, "");
        } else {
            assert_eq!(v.len(), 32);
            assert!(
                !r.stderr.contains(v) && !r.stdout.contains(v),
                "secret printed"
            );
        }
    }
    assert!(
        dest.join(".git").is_dir() && dest.join(".venv").is_dir(),
        "{r}"
    );
    let text = std::fs::read_to_string(dest.join(".env.sandbox")).expect("env file");
    assert!(text.contains("SLOT_NUMBER=0\n"), "{text}");
    assert_eq!(
        env.registry()["local_prod"]["path"],
        dest.display().to_string()
    );
    for d in ["data", "models", "strategies"] {
        assert!(env.kinfra_home.join("shared").join(d).is_dir());
    }

    // Re-running resumes (same repository already there) and --start passes the gate.
    let r = env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &dest_s,
            "--skip-shared",
            "--start",
        ],
        &[],
    );
    r.success()
        .stderr_has("resuming from the next step")
        .stderr_has("already initialized")
        .stderr_has("workers    passed")
        .stderr_has("3 secret(s) loaded")
        .stderr_has("local-prod is up and ready")
        .stderr_has("local-prod is running:");
    assert!(!docker_objects("ktrdr-prod").is_empty());
    // A third run finds it running: not started again, and said so.
    env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &dest_s,
            "--skip-shared",
            "--start",
        ],
        &[],
    )
    .success()
    .stderr_has("already running: left as it is")
    .stderr_has("was already running");

    env.kinfra(&env.work, &["local-prod", "destroy", "--force"])
        .success();
    assert!(docker_objects("ktrdr-prod").is_empty());
    assert!(
        dest.join(".git").is_dir() && dest.join("docker-compose.sandbox.yml").is_file(),
        "the clone stays"
    );
}

#[test]
fn setup_refuses_without_losing_anything() {
    // Docker lock: it registers a local-prod, whose project name other tests use.
    let mut env = docker_env!();
    // A non-empty directory that is not the repository: refused, unchanged.
    let busy = env.work.join("busy");
    std::fs::create_dir_all(busy.join("sub")).expect("mkdir");
    std::fs::write(busy.join("sub/notes.txt"), "mine").expect("write");
    let before = snapshot(&busy);
    let r = env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &format!("--path={}", busy.display()),
        ],
        &[],
    );
    r.code(2)
        .stderr_has("not empty")
        .stderr_has("left untouched");
    assert_eq!(snapshot(&busy), before);

    // An existing file as the path.
    let file = env.work.join("afile");
    std::fs::write(&file, "x").expect("write");
    env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &format!("--path={}", file.display()),
        ],
        &[],
    )
    .code(2)
    .stderr_has("not a directory");

    // No --path in non-interactive mode names the flag.
    env.setup(&env.work, &["--non-interactive", "--demo"], &[])
        .code(2)
        .stderr_has("--path");

    // An SSH URL is refused up front, saying what to use instead.
    let dest = env.work.join("never");
    env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--repo-url",
            "git@github.com:kpiteira/ktrdr.git",
            &format!("--path={}", dest.display()),
        ],
        &[],
    )
    .code(2)
    .stderr_has("is an SSH URL")
    .stderr_has("https://github.com/kpiteira/ktrdr.git");
    assert!(!dest.exists());

    // A bad repository URL leaves no directory behind.
    env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--repo-url",
            "/nonexistent/ktrdr.git",
            &format!("--path={}", dest.display()),
        ],
        &[],
    )
    .code(1)
    .stderr_has("cloning /nonexistent/ktrdr.git failed");
    assert!(!dest.exists());
    let leftovers = staging_leftovers(&env.work);
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // An existing local-prod is reported before anything is cloned.
    let prod = env.clone_repo("ktrdr-prod");
    env.kinfra(&prod, &["local-prod", "init"]).success();
    let dest2 = env.work.join("second");
    env.setup(
        &env.work,
        &[
            "--non-interactive",
            "--demo",
            &format!("--path={}", dest2.display()),
        ],
        &[],
    )
    .code(1)
    .stderr_has(&format!(
        "a local-prod instance already exists at {}",
        prod.display()
    ));
    assert!(!dest2.exists());
}

#[test]
fn interactive_happy_path_through_a_pty() {
    let env = docker_env!();
    let file = env.work.join("a-file");
    std::fs::write(&file, "keep me").unwrap();
    let dest = env.work.join("made/by/prompt/ktrdr-prod");
    let steps = serde_json::json!([
        // A path under a file is refused with the reason and asked again.
        [
            "Where should local-prod live?",
            format!("{}/sub\r", file.display())
        ],
        ["Choose another path", format!("{}\r", dest.display())],
        ["Shared data", "\r"],
        // A stray word is not an answer: asked again, nothing reaches the shell.
        ["Start local-prod at the end?", "maybe\r"],
        ["answer y or n", "n\r"],
        ["Go ahead?", "\r"],
    ]);
    let (code, transcript) = env.in_pty(crate::harness::SETUP_BIN, &env.work, &["--demo"], steps);
    assert_eq!(code, 0, "{transcript}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    for part in [
        "is a file, so",
        "Plan",
        "(creates ",
        "Summary",
        "not running",
        "kinfra local-prod up",
        "sandbox create",
        "demo teardown",
    ] {
        assert!(transcript.contains(part), "{part} missing in\n{transcript}");
    }
    // The plan comes before the clone; the 1Password explanation once.
    let plan = transcript.find("Plan").unwrap();
    assert!(
        transcript.find("cloned ").is_some_and(|c| c > plan),
        "{transcript}"
    );
    assert_eq!(
        transcript
            .matches("reads its secrets from the 1Password item")
            .count(),
        1,
        "{transcript}"
    );
    assert!(
        dest.join(".git").is_dir() && dest.join(".env.sandbox").is_file(),
        "{transcript}"
    );
    assert!(
        env.kinfra_home.join("shared/models").is_dir(),
        "minimal shared data by default"
    );
    assert!(
        docker_objects("ktrdr-prod").is_empty(),
        "not started when declined"
    );
    // uv sync's lock file does not show as a change in the demo clone.
    let st = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&dest)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&st.stdout), "", "clean after setup");

    // A rerun through `2>&1 | cat` (as `| tee setup.log`): stdin is still the
    // terminal, so it asks, in plain lines; the destination defaults to the
    // registered local-prod; "cancel" at the plan changes nothing.
    let cmd = format!("{} --demo 2>&1 | cat", crate::harness::SETUP_BIN);
    let steps = serde_json::json!([
        [format!("[{}]", dest.display()), "\r"],
        ["choose 1-3", "2\r"],
        ["Start local-prod at the end?", "\r"],
        ["choose 1-3", "cancel\r"],
    ]);
    let (code, transcript) = env.in_pty("sh", &env.work, &["-c", &cmd], steps);
    assert!(
        transcript.contains("Cancelled: nothing was changed."),
        "{transcript}"
    );
    assert!(
        transcript.contains("register") || transcript.contains("registered already"),
        "{transcript}"
    );
    assert!(
        !transcript.contains("\u{1b}[?25l"),
        "no cursor games in a pipe: {transcript}"
    );
    let _ = code; // sh reports cat's status
    assert!(docker_objects("ktrdr-prod").is_empty(), "{transcript}");

    // Ctrl-C at a menu (which hides the cursor) ends with 130 and the cursor shown.
    let steps = serde_json::json!([
        ["Where should local-prod live?", "\r"],
        ["Shared data", "\u{3}"],
    ]);
    let (code, transcript) = env.in_pty(crate::harness::SETUP_BIN, &env.work, &["--demo"], steps);
    assert_eq!(code, 130, "{transcript}");
    let hidden = transcript
        .rfind("\u{1b}[?25l")
        .expect("the menu hid the cursor");
    let shown = transcript
        .rfind("\u{1b}[?25h")
        .expect("the cursor is shown again");
    assert!(shown > hidden, "{transcript:?}");
}
