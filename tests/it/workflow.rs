//! The team's workflow in kinfra: `spec`, `impl`, `worktrees`, `done`, named by
//! `[workflow]`, with destroy's safety.

use crate::docker_env;
use crate::harness::{git, project};

const COMPOSE: &str = r#"services:
  app:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    ports:
      - "${FLOW_PORT:-8080}:8080"
    stop_grace_period: 1s
"#;

const TOML: &str = r#"name = "flow"
compose_file = "compose.yaml"

[[ports]]
key = "FLOW_PORT"
local_prod = 31580
base = 31580
step = 1
"#;

#[test]
fn spec_impl_worktrees_and_done() {
    let env = docker_env!();
    let repo = project(
        &env,
        "flow",
        &[
            ("compose.yaml", COMPOSE),
            ("kinfra.toml", TOML),
            (
                "docs/designs/genome/implementation/M1_foundations.md",
                "# M1\n",
            ),
        ],
    );
    let parent = repo.parent().expect("parent").to_path_buf();

    // spec: a worktree on its own branch, no stack.
    let r = env.kinfra(&repo, &["spec", "genome"]);
    r.success();
    let spec = parent.join("flow-spec-genome");
    assert_eq!(r.stdout.trim(), spec.display().to_string());
    assert_eq!(
        git(&spec, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "spec/genome"
    );
    assert!(!spec.join(".env.sandbox").exists());

    // impl: the plan must exist; then branch, worktree, sandbox, start.
    env.kinfra(&repo, &["impl", "genome/M3"])
        .code(2)
        .stderr_has("no plan for milestone M3")
        .stderr_has("it has M1");
    let r = env.kinfra(&repo, &["impl", "genome/M1"]);
    r.success()
        .stderr_has("M1_foundations.md")
        .stderr_has("flow-impl-genome-m1 is up and ready");
    let imp = parent.join("flow-impl-genome-m1");
    assert_eq!(
        git(&imp, &["symbolic-ref", "--short", "HEAD"]).trim(),
        "impl/genome-m1"
    );

    let list = env.kinfra(&repo, &["worktrees", "--json"]).success().json();
    let kinds: Vec<(String, String)> = list
        .as_array()
        .expect("array")
        .iter()
        .map(|w| {
            (
                w["kind"].as_str().unwrap_or("").to_string(),
                w["path"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    for (kind, path) in [("main", &repo), ("spec", &spec), ("impl", &imp)] {
        assert!(
            kinds.contains(&(kind.to_string(), path.display().to_string())),
            "{kind} {}: {kinds:?}",
            path.display()
        );
    }

    // done, with destroy's safety: uncommitted work is refused; commits on the
    // branch stay with it.
    std::fs::write(imp.join("wip.txt"), "wip").expect("write");
    env.kinfra(&repo, &["done", "genome/M1"])
        .code(5)
        .stderr_has("wip.txt");
    git(&imp, &["add", "wip.txt"]);
    git(&imp, &["commit", "-q", "-m", "milestone work"]);
    env.kinfra(&repo, &["done", "genome-m1"])
        .success()
        .stderr_has("keeps 1 commit(s)");
    assert!(!imp.exists());
    assert!(git(&repo, &["log", "-1", "--format=%s", "impl/genome-m1"]).contains("milestone work"));

    std::fs::write(spec.join("design.md"), "draft").expect("write");
    env.kinfra(&repo, &["done", "genome"])
        .code(5)
        .stderr_has("design.md");
    assert!(spec.join("design.md").is_file());
    env.kinfra(&repo, &["done", "genome", "--force"])
        .success()
        .stderr_has("Removed spec worktree");
    assert!(!spec.exists());
    env.kinfra(&repo, &["done", "nothing"]).code(4);
}
