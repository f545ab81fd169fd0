//! Values on their way in and out: a value that would not read back from
//! `.env.sandbox` as itself (a newline adding `SLOT_NUMBER=…`), a port 0, a forged
//! line in the file, and a secret spelled the way compose or JSON prints it. Each
//! case asserts the refusal (exit code and reason, the line named) and that nothing
//! changed, or that no spelling of a secret reaches any output.

use crate::Tally;
use crate::harness::{Env, project, snapshot};

/// A small project with no healthcheck (the default gate).
const WEB_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "${TV_PORT:-18830}:80"
    stop_grace_period: 1s
"#;

const PORTS: &str = "[[ports]]\nkey = \"TV_PORT\"\nlocal_prod = 18830\nbase = 18830\n";

/// Whether `text` names a line by its number (`line 4`).
fn names_line(text: &str) -> bool {
    text.match_indices("line ")
        .any(|(i, _)| text[i + 5..].starts_with(|c: char| c.is_ascii_digit()))
}

pub fn run(t: &mut Tally) {
    t.case("untrusted input", "trust values: [env] values that would add lines, and port 0, refused naming the line", || {
        let env = Env::new();
        let base = "name = \"Vals\"\ncompose_file = \"compose.yaml\"\n";
        let cases: &[(&str, &str, &str)] = &[
            ("kinfra.toml", "[env]\nA = \"1\\nSLOT_NUMBER=9\\nINSTANCE_ID=other\"\n", "newline"),
            ("kinfra.toml", "[sandbox.env]\nA = \"1\\rSLOT_NUMBER=9\"\n", "carriage return"),
            ("kinfra.toml", "[local_prod.env]\nA = \"x\\u0000y\"\n", "NUL"),
            ("kinfra.toml", "[env]\nA = \"trailing \"\n", "trailing whitespace"),
            ("kinfra.toml", "[[ports]]\nkey = \"P\"\nfixed = 0\n", "port 0"),
            ("kinfra.toml", "[[ports]]\nkey = \"P\"\nlocal_prod = 0\n", "port 0"),
            ("kinfra.toml", "[[ports]]\nkey = \"P\"\nlocal_prod = 18001\nbase = 0\n", "port 0"),
            (".devops-ai/infra.toml", "[sandbox.env]\nA = \"1\\nSLOT_NUMBER=9\"\n", "newline"),
            (".devops-ai/infra.toml", "[sandbox.ports]\nP = 0\n", "port 0"),
        ];
        let mut n = 0;
        for (i, (file, extra, says)) in cases.iter().enumerate() {
            let name = format!("tval{i}");
            let text = if file.starts_with(".devops-ai") {
                format!("[project]\nname = \"vals\"\n[sandbox]\ncompose_file = \"compose.yaml\"\n{extra}")
            } else {
                format!("{base}{extra}")
            };
            let repo = project(&env, &name, &[("compose.yaml", WEB_COMPOSE), (file, &text)]);
            let before = snapshot(&env.work);
            let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
            r.code(2).stderr_has(says).no_panic();
            assert!(names_line(&r.stderr), "the line is named\n{r}");
            crate::assert_intact(&name, &before, &env.work);
            assert!(!env.registry_path().exists(), "nothing registered\n{r}");
            // `stack check` refuses the same description the same way.
            let c = env.kinfra(&repo, &["stack", "check"]);
            assert_ne!(c.code, 0, "stack check accepted it\n{c}");
            c.stderr_has(says).no_panic();
            n += 1;
        }
        format!("{n} descriptions (newline, CR, NUL or trailing space in [env]/[sandbox.env]/[local_prod.env]/infra.toml [sandbox.env]; port 0 as fixed, local_prod, base, infra.toml port): create exits 2 naming the line and the reason, stack check refuses, nothing created or registered")
    });

    t.case("untrusted input", "trust values: a forged .env.sandbox line with a CR or NUL is corrupt state, left as it is", || {
        let env = Env::new();
        let toml = format!("name = \"Forge\"\ncompose_file = \"compose.yaml\"\n{PORTS}");
        let repo = project(&env, "forge", &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", &toml)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("forge--a");
        let path = wt.join(".env.sandbox");
        let good = std::fs::read_to_string(&path).expect("env file");
        let mut n = 0;
        for (forged, what) in [("EVIL=x\rSLOT_NUMBER=9\n", "carriage return"), ("EVIL=x\0y\n", "NUL")] {
            let text = format!("{good}{forged}");
            std::fs::write(&path, &text).expect("forge");
            let r = env.kinfra(&wt, &["env"]);
            r.code(6).stderr_has(what).no_panic();
            assert!(names_line(&r.stderr), "the line is named\n{r}");
            assert_eq!(std::fs::read_to_string(&path).expect("read"), text, "the file is left as it is");
            n += 1;
        }
        std::fs::write(&path, &good).expect("restore");
        env.kinfra(&wt, &["env"]).success();
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        format!("{n} forged lines (CR inside a value, NUL): `kinfra env` exits 6 naming the line, the file is left byte for byte")
    });

    t.docker_case("untrusted input", "trust values: a secret with $, quotes, backslashes and lines shows in no spelling", || {
        let env = Env::with_docker().expect("docker");
        env.op_sign_in();
        // Each marker (M4RK…) stands in a part of a secret that compose, YAML or
        // JSON would print escaped; none may reach any output, in any spelling.
        let dollar = "Dl1r$HOMEx\"q\\z-M4RKA";
        let key = "-----BEGIN TEST KEY-----\nM4RKB-line-two-abcdef\nM4RKC-line-three-x\"$y\n-----END TEST KEY-----";
        let single = "it's-M4RKD-single";
        env.op_item("spell-sandbox-dev", &[("dollar", dollar), ("key", key), ("single", single)]);
        let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"${SP_PORT:-18840}:80\"\n    environment:\n      DOLLAR: ${SP_DOLLAR}\n      KEY: ${SP_KEY}\n      SINGLE: ${SP_SINGLE}\n";
        let toml = "name = \"Spell\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"SP_PORT\"\nlocal_prod = 18840\nbase = 18840\n[[secrets]]\nfield = \"dollar\"\nvar = \"SP_DOLLAR\"\n[[secrets]]\nfield = \"key\"\nvar = \"SP_KEY\"\n[[secrets]]\nfield = \"single\"\nvar = \"SP_SINGLE\"\n";
        let repo = project(&env, "spell", &[("compose.yaml", compose), ("kinfra.toml", toml)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("spell--a");
        let runs = [
            env.kinfra(&wt, &["sandbox", "compose", "--", "config"]),
            env.kinfra(&wt, &["sandbox", "compose", "--", "config", "--format", "json"]),
            env.kinfra(&wt, &["env"]),
            env.kinfra(&wt, &["env", "--json"]),
            env.kinfra(&wt, &["sandbox", "status", "--json"]),
        ];
        for r in &runs {
            r.success().no_panic();
            for m in ["M4RKA", "M4RKB", "M4RKC", "M4RKD", "BEGIN TEST KEY", "Dl1r"] {
                assert!(!r.stdout.contains(m) && !r.stderr.contains(m), "{m} printed\n{r}");
            }
        }
        // The values were there to hide: compose's output shows where each lands.
        for r in &runs[..2] {
            assert!(r.stdout.contains("DOLLAR") && r.stdout.contains("***"), "{r}");
        }
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        format!("{} outputs (compose config as YAML, as JSON; env; env --json; status --json) of secrets holding $, \", \\, ' and lines: no spelling shown, the values masked (***)", runs.len())
    });

    t.docker_case("untrusted input", "trust values: a gate check on a port the compose model lacks is refused by create", || {
        let env = Env::with_docker().expect("docker");
        let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"18850:80\"\n";
        let toml = |port: &str| format!("name = \"Gatey\"\ncompose_file = \"compose.yaml\"\nport_scheme = \"auto\"\n[[gate]]\nname = \"api\"\nservice = \"web\"\ntcp = {{ port = \"{port}\" }}\n");
        let repo = project(&env, "gatey", &[("compose.yaml", compose), ("kinfra.toml", &toml("PORT_API_80"))]);
        // The user's files (git's own admin files aside: the worktree's undo leaves
        // `/.env.sandbox` in .git/info/exclude, as create's other undo does).
        let user_files = || -> Vec<_> {
            snapshot(&env.work).into_iter().filter(|(p, _)| !p.components().any(|c| c.as_os_str() == ".git")).collect()
        };
        let before = user_files();
        let branches_before = crate::harness::git(&repo, &["branch", "--list"]);
        let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
        r.code(2).stderr_has("PORT_API_80").stderr_has("does not publish").stderr_has("PORT_WEB_80").no_panic();
        let wt = env.work.join("gatey--a");
        assert!(!wt.exists(), "no worktree left\n{r}");
        // `stack check` finds it too, through the same check.
        let c = env.kinfra(&repo, &["stack", "check"]);
        assert_ne!(c.code, 0, "stack check accepted it\n{c}");
        c.code(2).no_panic();
        assert!(c.stdout.contains("PORT_API_80") && c.stdout.contains("does not publish"), "{c}");
        let reg = std::fs::read_to_string(env.registry_path()).unwrap_or_default();
        assert!(!reg.contains("gatey--a"), "nothing registered\n{reg}");
        let branches = crate::harness::git(&repo, &["branch", "--list"]);
        assert_eq!(branches, branches_before, "no branch left");
        assert_eq!(user_files(), before, "the user's files are as they were");
        // The same description naming a port the model has is created.
        std::fs::write(repo.join("kinfra.toml"), toml("PORT_WEB_80")).expect("write");
        crate::harness::git(&repo, &["commit", "-qam", "gate on the web port"]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        assert!(wt.join(".env.sandbox").is_file());
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        "create with a gate check on PORT_API_80 (the model publishes PORT_WEB_80): exit 2 naming both (stack check: the same error, exit 2), no worktree, branch or registry entry left; on PORT_WEB_80 it is created".into()
    });
}
