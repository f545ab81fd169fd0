//! Untrusted input: what a repository (`kinfra.toml`, compose files, tracked
//! symlinks, `.env.sandbox`), a hook payload, an MCP call, a flag or the
//! environment says can never reach outside the instance's place, run something,
//! leak a secret or make kinfra panic. One case per class of the hidden corpus;
//! each asserts the refusal (exit code and reason) and that nothing changed.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Tally;
use crate::harness::{
    BIN, Env, assert_marked, docker, docker_objects, git, mark_volumes, output_with_stdin, project,
    snapshot,
};

/// A small project with no healthcheck (the default gate), for the Docker cases.
const WEB_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "18780:80"
    stop_grace_period: 1s
"#;

/// Runs `kinfra hook <which>` with `payload` on stdin.
fn hook(env: &Env, cwd: &Path, which: &str, payload: &Value) -> (i32, String) {
    let mut cmd = env.command(BIN, cwd, &["hook", which], &[]);
    let out = output_with_stdin(&mut cmd, payload.to_string().as_bytes());
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Commits everything in `dir` (symlinks included, as git tracks them).
fn commit_all(dir: &Path, msg: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", msg]);
}

pub fn run(t: &mut Tally) {
    t.case("untrusted input", "kinfra.toml values that would become something else", || {
        let env = Env::new();
        let base = "name = \"Shop\"\ncompose_file = \"compose.yaml\"\n";
        let cases: &[(&str, &str)] = &[
            ("[[ports]]\nkey = \"A=B\"\nlocal_prod = 18001\n", "not an environment variable name"),
            ("[[ports]]\nkey = \"X\\nSLOT_NUMBER=9\"\nlocal_prod = 18001\n", "not an environment variable name"),
            ("[[ports]]\nkey = \"$(touch pwned)\"\nlocal_prod = 18001\n", "not an environment variable name"),
            ("[[ports]]\nkey = \"\"\nlocal_prod = 18001\n", "empty name"),
            ("[[ports]]\nkey = \"P\"\nlocal_prod = 18001\n[[ports]]\nkey = \"P\"\nlocal_prod = 18002\n", "each variable once"),
            ("env_prefix = \"X\\nSLOT_NUMBER=9\"\n", "not an environment variable name"),
            ("[[secrets]]\nfield = \"t\"\nvar = \"DOCKER_HOST\"\n", "steers the processes"),
            ("[[secrets]]\nfield = \"t\"\nvar = \"LD_PRELOAD\"\n", "steers the processes"),
            ("[[secrets]]\nfield = \"t\"\nvar = \"PATH\"\n", "steers the processes"),
            ("[[secrets]]\nfield = \"t\"\nvar = \"COMPOSE_FILE\"\n", "steers the processes"),
            ("[[gate]]\nname = \"g\"\nservice = \"web\"\nhttp = { port = \"PORT_WEB_80\", path = \"@127.0.0.1:9999/x\" }\n", "must start with one /"),
            ("[[gate]]\nname = \"g\"\nservice = \"web\"\njson_length = { port = \"PORT_WEB_80\", path = \"/w\", pointer = \"workers\", min = 1 }\n", "not a JSON pointer"),
            ("profiles = [\"\"]\n", "not a compose profile name"),
            ("profiles = [\"--all-resources\"]\n", "not a compose profile name"),
            ("[local_prod]\nproject = \"My Prod/x\"\n", "not a compose project name"),
            ("[sandbox]\nitem = \"--vault=other\"\n", "not a 1Password item name"),
        ];
        let mut n = 0;
        for (i, (extra, says)) in cases.iter().enumerate() {
            let name = format!("vals{i}");
            let repo = project(
                &env,
                &name,
                &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", &format!("{base}{extra}"))],
            );
            let before = snapshot(&env.work);
            let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
            r.code(2).stderr_has("kinfra.toml").stderr_has(says).no_panic();
            if !says.contains("each variable once") {
                assert!(r.stderr.contains("line "), "the line is named\n{r}");
            }
            crate::assert_intact(&name, &before, &env.work);
            assert!(!env.registry_path().exists(), "nothing registered\n{r}");
            assert!(!repo.join("pwned").exists());
            n += 1;
        }
        format!("{n} descriptions (bad or duplicate keys, injected lines, steering secrets, gate paths that change the host, pointers, profiles, project and item names): exit 2 naming the file and line, nothing created")
    });

    t.case("untrusted input", "keys that build paths stay where they belong", || {
        let env = Env::new();
        let outside = env.base().join("elsewhere");
        let abs = format!("worktree_prefix = \"{}/x-\"\n", outside.display());
        let cases: Vec<(String, &str)> = vec![
            ("worktree_prefix = \"../../x-\"\n".into(), "worktree_prefix"),
            (abs, "worktree_prefix"),
            ("worktree_prefix = \"a/b-\"\n".into(), "worktree_prefix"),
            ("shared_dirs = [\"../../etc\"]\n".into(), "shared_dirs"),
            (format!("shared_dirs = [\"{}\"]\n", outside.display()), "shared_dirs"),
            ("compose_file = [\"compose.yaml\", \"../../x.yaml\"]\n".into(), "inside the repository"),
            ("[[carry]]\nfrom = \"../../../etc/passwd\"\n".into(), "inside the repository"),
            ("[post_start]\nname = \"p\"\nservice = \"web\"\nscript = \"/bin/sh\"\n".into(), "inside the repository"),
        ];
        let mut n = 0;
        for (i, (extra, says)) in cases.iter().enumerate() {
            let name = format!("paths{i}");
            let text = if extra.starts_with("compose_file") {
                format!("name = \"Shop\"\n{extra}")
            } else {
                format!("name = \"Shop\"\ncompose_file = \"compose.yaml\"\n{extra}")
            };
            let repo = project(&env, &name, &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", &text)]);
            let before = snapshot(&env.base());
            for args in [vec!["sandbox", "create", "a"], vec!["sandbox", "init"], vec!["local-prod", "init"]] {
                let r = env.kinfra(&repo, &args);
                r.code(2).stderr_has(says).no_panic();
                n += 1;
            }
            crate::assert_intact(&name, &before, &env.base());
            assert!(!outside.exists() && !env.registry_path().exists());
        }
        format!("{n} commands on worktree prefixes and shared directories outside their place (../, absolute, nested), compose files, carried files and scripts outside the repository: exit 2 naming the key, nothing created anywhere")
    });

    t.case("untrusted input", "tracked symlinks out of the repository", || {
        let env = Env::new();
        let secret_dir = env.home.join("private");
        std::fs::create_dir_all(&secret_dir).expect("mkdir");
        std::fs::write(secret_dir.join("token.txt"), "TOP-SECRET-IN-HOME").expect("write");
        let drop_zone = env.base().join("drop-zone");
        std::fs::create_dir_all(&drop_zone).expect("mkdir");
        let toml = "name = \"Links\"\ncompose_file = \"compose.yaml\"\n\
            [[carry]]\nfrom = \"leak.txt\"\nto = \"copied.txt\"\n\
            [[carry]]\nfrom = \"notes.txt\"\nto = \"out/evil.txt\"\n\
            [[carry]]\nfrom = \"notes.txt\"\nto = \"inner/ok.txt\"\n";
        let repo = project(
            &env,
            "links",
            &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", toml), ("notes.txt", "mine\n"), ("inner/.keep", "")],
        );
        // Real tracked symlinks: a file link to a secret in $HOME, a directory link
        // to a place outside, both committed.
        std::os::unix::fs::symlink(secret_dir.join("token.txt"), repo.join("leak.txt")).expect("symlink");
        std::os::unix::fs::symlink(&drop_zone, repo.join("out")).expect("symlink");
        commit_all(&repo, "links");
        let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
        r.success().no_panic();
        let wt = env.work.join("links--a");
        assert!(wt.join("leak.txt").is_symlink(), "the link is checked out\n{r}");
        assert!(!wt.join("copied.txt").exists(), "a file from $HOME was copied in\n{r}");
        r.stderr_has("not carried: leak.txt").stderr_has("outside");
        assert!(
            std::fs::read_dir(&drop_zone).expect("read_dir").next().is_none(),
            "a file was written through the directory link\n{r}"
        );
        r.stderr_has("not carried: out/evil.txt");
        assert_eq!(std::fs::read_to_string(wt.join("inner/ok.txt")).expect("carried"), "mine\n");
        assert!(!r.stderr.contains("TOP-SECRET-IN-HOME") && !r.stdout.contains("TOP-SECRET-IN-HOME"));
        // The same link as a compose file: refused at use time, naming it.
        let r2 = {
            std::fs::write(repo.join("kinfra.toml"), "name = \"Links\"\ncompose_file = [\"compose.yaml\", \"leak.txt\"]\n").expect("write");
            commit_all(&repo, "compose link");
            env.kinfra(&repo, &["sandbox", "create", "b"])
        };
        r2.no_panic().stderr_has("leak.txt").stderr_has("outside");
        let _ = env.kinfra(&repo, &["sandbox", "destroy", "b", "--force"]);
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        assert!(secret_dir.join("token.txt").is_file() && drop_zone.is_dir());
        "a tracked link as carry.from (a file in $HOME) and as a directory on carry.to's way: refused with the reason, nothing read or written outside; a link inside the repository is followed; the link as a compose file is refused at use time".into()
    });

    t.case("untrusted input", "values given to git are data", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-base");
        let mut n = 0;
        for base in ["--no-checkout", "-b", "--orphan=x", "no-such-ref", "HEAD\nx", ""] {
            let r = env.kinfra(&repo, &["sandbox", "create", "b", &format!("--base={base}")]);
            r.code(2).no_panic();
            assert!(!env.work.join("ktrdr--b").exists(), "{base:?}: a worktree was made\n{r}");
            n += 1;
        }
        let (code, err) = hook(&env, &repo, "worktree-create", &json!({"name": "h", "base_commit": "--no-checkout", "cwd": repo}));
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("not a commit") && !env.work.join("ktrdr--h").exists(), "{err}");
        n += 1;
        // A real base works and checks the files out.
        let head = git(&repo, &["rev-parse", "HEAD"]);
        env.kinfra(&repo, &["sandbox", "create", "b", &format!("--base={}", head.trim())]).success();
        assert!(env.work.join("ktrdr--b/docker-compose.sandbox.yml").is_file());
        env.kinfra(&repo, &["sandbox", "destroy", "b"]).success();
        assert!(env.registry()["instances"].get("ktrdr--b").is_none());
        format!("{n} bases that look like options or name nothing (flag and hook base_commit): exit 2, no worktree; a commit hash still works")
    });

    t.case("untrusted input", "the environment: one rule for every variable", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-envvars");
        let mut n = 0;
        for (var, val) in [
            ("KINFRA_LOCK_WAIT", "abc"),
            ("KINFRA_LOCK_WAIT", "-5"),
            ("KINFRA_GATE_POLL_MS", "0"),
            ("KINFRA_GATE_POLL_MS", "fast"),
            ("KINFRA_BUDGET_POLL_MS", "1e3"),
            ("KINFRA_OP_TIMEOUT_SECS", "30s"),
            ("KINFRA_MAX_RUNNING", "many"),
            ("KINFRA_MEMORY_BUDGET", "lots"),
            ("KINFRA_COMPOSE", "podman"),
        ] {
            for args in [vec!["sandbox", "list"], vec!["sandbox", "create", "e"]] {
                let r = env.kinfra_env(&repo, &args, &[(var, val)]);
                r.code(2).stderr_has(&format!("{var}=")).no_panic();
                n += 1;
            }
            assert!(!env.work.join("ktrdr--e").exists());
        }
        format!("{n} runs with a bad KINFRA_* value: exit 2 naming the variable and its value before anything is done")
    });

    t.case("untrusted input", "closed output pipes never panic", || {
        let mut env = Env::new();
        let repo = env.clone_repo("ktrdr-pipes");
        let mut n = 0;
        for args in [vec!["stack", "check"], vec!["sandbox", "list"], vec!["sandbox", "status"], vec!["doctor"], vec!["sandbox", "create", "--help"]] {
            for closed in ["stderr", "stdout", "both"] {
                let mut cmd = env.command(BIN, &repo, &args, &[]);
                cmd.stdin(Stdio::null());
                cmd.stdout(if closed == "stderr" { Stdio::null() } else { Stdio::piped() });
                cmd.stderr(if closed == "stdout" { Stdio::null() } else { Stdio::piped() });
                let mut child = cmd.spawn().expect("spawn");
                // Close the read ends at once: every write then fails (EPIPE).
                drop(child.stdout.take());
                drop(child.stderr.take());
                let status = child.wait().expect("wait");
                assert_ne!(status.code(), Some(101), "{args:?} with closed {closed} panicked");
                assert!(status.code().is_some(), "{args:?} with closed {closed} died by a signal: {status}");
                n += 1;
            }
        }
        format!("{n} commands with stderr, stdout or both closed: none panicked (exit 101) or died by a signal")
    });

    t.case("untrusted input", "MCP: malformed lines and arguments get JSON-RPC errors", || {
        let env = Env::new();
        let dir = env.work.join("mcp-here");
        std::fs::create_dir_all(&dir).expect("mkdir");
        let mut cmd = env.command(BIN, &dir, &["mcp"], &[]);
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child = cmd.spawn().expect("kinfra mcp");
        let mut stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        let mut send = |v: &str| {
            stdin.write_all(v.as_bytes()).expect("write");
            stdin.write_all(b"\n").expect("write");
            stdin.flush().expect("flush");
        };
        let next = || -> Value {
            let l = rx.recv_timeout(Duration::from_secs(20)).expect("an answer within 20 s");
            serde_json::from_str(&l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))
        };
        send(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#);
        assert_eq!(next()["id"], 1);
        send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        let mut n = 0;
        for (line, code, id) in [
            ("{not json", -32700, Value::Null),
            ("[1, 2", -32700, Value::Null),
            (r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"status","arguments":[1,2]}}"#, -32602, json!(5)),
            (r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"status","arguments":"name=x"}}"#, -32602, json!(6)),
            (r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":"status"}"#, -32602, json!(7)),
        ] {
            send(line);
            let v = next();
            assert_eq!(v["error"]["code"], code, "{line} -> {v}");
            assert_eq!(v["id"], id, "{line} -> {v}");
            n += 1;
        }
        // The session still works after them; a huge timeout is no panic.
        send(r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"wait_healthy","arguments":{"name":"nope","timeout_secs":18446744073709551615}}}"#);
        let v = next();
        assert_eq!(v["id"], 9, "{v}");
        assert_eq!(v["result"]["isError"], true, "{v}");
        drop(stdin);
        let status = child.wait().expect("wait");
        assert_eq!(status.code(), Some(0), "the server ends cleanly at the end of input");
        format!("{n} malformed lines and arguments: -32700 / -32602 with the request's id; the session goes on and ends with exit 0")
    });

    t.docker_case("untrusted input", "the worktree hook never removes what kinfra did not create", || {
        let mut env = Env::with_docker().expect("docker");
        let repo = env.clone_repo("ktrdr-hookmain");
        env.kinfra(&repo, &["sandbox", "init"]).success();
        let id = "ktrdr-hookmain";
        docker(&["volume", "create", "--label", &format!("com.docker.compose.project={id}"), &format!("{id}_postgres_data")]);
        let vols = mark_volumes(id);
        let before = snapshot(&repo);
        let registry = std::fs::read(env.registry_path()).expect("registry");
        let elsewhere = env.work.join("plain-dir");
        std::fs::create_dir_all(&elsewhere).expect("mkdir");
        let mut n = 0;
        for path in [&repo, &elsewhere, &repo.join(".."), &env.base()] {
            let (code, err) = hook(&env, &repo, "worktree-remove", &json!({"worktree_path": path, "cwd": repo}));
            assert_eq!(code, 5, "{}: {err}", path.display());
            assert!(err.contains("refused to remove") && err.contains("hint:"), "{err}");
            n += 1;
        }
        crate::assert_intact("hook on the main clone", &before, &repo);
        assert!(repo.join(".env.sandbox").is_file() && elsewhere.is_dir());
        assert_eq!(std::fs::read(env.registry_path()).expect("registry"), registry, "the registry changed");
        assert_marked(&vols, &"after the hook");
        env.kinfra(&repo, &["sandbox", "release", id]).success();
        let _ = std::process::Command::new("docker").args(["volume", "rm", "-f", &vols[0]]).output();
        format!("{n} paths (a main clone registered with `sandbox init` holding a marked volume, a plain directory, parents): exit 5 with the reason; files, registry and the volume's data unchanged")
    });

    t.docker_case("untrusted input", "a post-start script that is a link out of the repository", || {
        let env = Env::with_docker().expect("docker");
        let outside = env.base().join("outside.sh");
        std::fs::write(&outside, "echo OUTSIDE-SCRIPT-RAN\n").expect("write");
        let toml = "name = \"Hooky\"\ncompose_file = \"compose.yaml\"\n[post_start]\nname = \"seed\"\nservice = \"web\"\nscript = \"scripts/seed.sh\"\n";
        let repo = project(&env, "hooky", &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", toml), ("scripts/.keep", "")]);
        std::os::unix::fs::symlink(&outside, repo.join("scripts/seed.sh")).expect("symlink");
        commit_all(&repo, "a linked script");
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("hooky--a");
        assert!(wt.join("scripts/seed.sh").is_symlink());
        let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
        r.code(1).stderr_has("refused to run scripts/seed.sh").stderr_has("outside").no_panic();
        assert!(!r.stderr.contains("OUTSIDE-SCRIPT-RAN") && !r.stdout.contains("OUTSIDE-SCRIPT-RAN"), "the script ran\n{r}");
        env.kinfra(&wt, &["sandbox", "down"]).success();
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        assert!(docker_objects("hooky--a").is_empty() && outside.is_file());
        "post_start.script as a tracked link to a script outside: up refuses to run it (exit 1, the reason named), the script never ran".into()
    });

    t.docker_case("untrusted input", "a hand-edited .env.sandbox cannot steer compose", || {
        let env = Env::with_docker().expect("docker");
        let repo = project(&env, "steer", &[("compose.yaml", WEB_COMPOSE)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("steer--a");
        let mut text = std::fs::read_to_string(wt.join(".env.sandbox")).expect("read");
        text.push_str("DOCKER_HOST=tcp://203.0.113.7:2375\nCOMPOSE_FILE=/etc/passwd\nPATH=/nonexistent\nLD_PRELOAD=/tmp/evil.so\nSHOP_EXTRA=kept\n");
        std::fs::write(wt.join(".env.sandbox"), &text).expect("write");
        let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]);
        r.success().no_panic();
        assert!(!docker_objects("steer--a").is_empty(), "started on the local engine\n{r}");
        let e = env.kinfra(&wt, &["env"]);
        e.success();
        for bad in ["DOCKER_HOST", "COMPOSE_FILE", "PATH=", "LD_PRELOAD", "SHOP_EXTRA"] {
            assert!(!e.stdout.contains(bad), "`kinfra env` printed {bad}\n{e}");
        }
        assert_eq!(e.stdout.matches("COMPOSE_PROJECT_NAME").count(), 1, "{e}");
        assert!(std::fs::read_to_string(wt.join(".env.sandbox")).expect("read").contains("SHOP_EXTRA=kept"), "the user's lines are kept");
        env.kinfra(&wt, &["sandbox", "down"]).success();
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        "DOCKER_HOST, COMPOSE_FILE, PATH and LD_PRELOAD lines in .env.sandbox: compose ran on the local engine with the real compose file; `kinfra env` prints only kinfra's keys and ports (the project name once); the lines stay in the file".into()
    });

    t.docker_case("untrusted input", "services that share a name form get their own ports", || {
        let env = Env::with_docker().expect("docker");
        let compose = "services:\n  web.app:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18781:80\"]\n  web-app:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18782:80\"]\n  web_app:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports: [\"18783:80\"]\n";
        let repo = project(&env, "forms", &[("compose.yaml", compose)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let text = std::fs::read_to_string(env.work.join("forms--a/.env.sandbox")).expect("read");
        let ports: Vec<(&str, &str)> = text
            .lines()
            .filter(|l| l.starts_with("PORT_"))
            .filter_map(|l| l.split_once('='))
            .collect();
        assert_eq!(ports.len(), 3, "{text}");
        let values: std::collections::BTreeSet<&str> = ports.iter().map(|(_, v)| *v).collect();
        assert_eq!(values.len(), 3, "one port each\n{text}");
        let c = env.kinfra(&repo, &["stack", "check"]);
        c.no_panic();
        assert!(c.stdout.contains("services web-app, web.app, web_app share one name form"), "{c}");
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        format!("web.app, web-app and web_app: three keys and three ports ({}); stack check names the group", values.into_iter().collect::<Vec<_>>().join(", "))
    });

    t.docker_case("untrusted input", "huge timeouts and polls past the deadline", || {
        let env = Env::with_docker().expect("docker");
        let repo = project(&env, "clock", &[("compose.yaml", WEB_COMPOSE)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("clock--a");
        let huge = "18446744073709551615";
        let r = env.kinfra(&wt, &["sandbox", "up", "--no-secrets", "--timeout", huge]);
        r.success().no_panic();
        env.kinfra(&wt, &["wait", "--timeout", huge]).success().no_panic();
        env.kinfra(&wt, &["sandbox", "down"]).success();
        // Stopped: a poll far longer than the timeout still ends at the deadline.
        let start = Instant::now();
        let w = env.kinfra_env(&wt, &["wait", "--timeout", "2"], &[("KINFRA_GATE_POLL_MS", "999999")]);
        let took = start.elapsed();
        w.code(2).no_panic();
        assert!(took < Duration::from_secs(15), "wait took {took:?}");
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        assert!(docker_objects("clock--a").is_empty());
        format!("up and wait with --timeout {huge}: ready, no panic; KINFRA_GATE_POLL_MS=999999 with --timeout 2 ended in {:.1} s (exit 2)", took.as_secs_f64())
    });

    t.docker_case("untrusted input", "a secret never shows, whatever compose says", || {
        let env = Env::with_docker().expect("docker");
        env.op_sign_in();
        let secret = "S3CRET-UNTRUSTED-7f3a9";
        env.op_item("leaky-sandbox-dev", &[("token", secret)]);
        // The compose file puts the secret where compose will quote it back.
        let compose = "services:\n  web:\n    image: busybox:1.35\n    command: [\"httpd\", \"-f\", \"-p\", \"80\"]\n    ports:\n      - \"${LEAKY_PORT:-18790}:80\"\n      - \"${LEAKY_TOKEN}:81\"\n";
        let toml = "name = \"Leaky\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"LEAKY_PORT\"\nlocal_prod = 18790\nbase = 18790\n[[secrets]]\nfield = \"token\"\nvar = \"LEAKY_TOKEN\"\n";
        let repo = project(&env, "leaky", &[("compose.yaml", compose), ("kinfra.toml", toml)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("leaky--a");
        let r = env.kinfra(&wt, &["sandbox", "up"]);
        assert_ne!(r.code, 0, "{r}");
        r.stderr_has("secret(s) loaded").no_panic();
        assert!(!r.stderr.contains(secret) && !r.stdout.contains(secret), "the secret was printed\n{r}");
        assert!(r.stderr.contains("***"), "compose's message is shown, the value masked\n{r}");
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        "a compose error that quotes a 1Password value: the error is shown with the value masked (***), on no output path in full".into()
    });
}
