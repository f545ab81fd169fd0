//! Trust by construction, for processes and what they are given: kinfra signals
//! only a process it started (a host service's record is its pid, start time and
//! command line, all matched before any signal), and what `stack allow` recorded is
//! all that runs (the environment host services get from the repository is part of
//! it; variables that steer an interpreter or the loader are refused while parsing).

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use crate::Tally;
use crate::harness::{Env, project, snapshot};

const APP: &str = r#"services:
  app:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600"]
    stop_grace_period: 1s
"#;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A description with one host service (python's web server on `port`).
fn toml(name: &str, port: u16, extra: &str) -> String {
    format!(
        "name = \"{name}\"\ncompose_file = \"compose.yaml\"\n\n[[host]]\nname = \"web-host\"\ncommand = [\"python3\", \"-m\", \"http.server\", \"{port}\", \"--bind\", \"127.0.0.1\"]\ndir = \"hostsvc\"\nport = {port}\nhealth = \"/\"\n{extra}"
    )
}

/// A process of the test's own, in a process group of its own: what a forged
/// record would make kinfra signal.
fn bystander() -> Child {
    let c = Command::new("sleep")
        .arg("300")
        .process_group(0)
        .spawn()
        .expect("start sleep");
    // Until it has exec'd, /proc shows the test's own command line.
    let cmdline = format!("/proc/{}/cmdline", c.id());
    crate::harness::eventually("the bystander runs sleep", || {
        std::fs::read(&cmdline).is_ok_and(|b| b.starts_with(b"sleep\0"))
    });
    c
}

/// Whether the bystander still runs (not signalled to death).
fn runs(c: &mut Child) -> bool {
    matches!(c.try_wait(), Ok(None))
}

/// `/proc/PID/stat`'s start time and `/proc/PID/cmdline` of a live process.
fn identity(pid: u32) -> (String, Vec<String>) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    let after = &stat[stat.rfind(')').expect(")") + 1..];
    let start = after
        .split_whitespace()
        .nth(19)
        .expect("field 22")
        .to_string();
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).expect("cmdline");
    let args = cmd
        .strip_suffix(b"\0")
        .unwrap_or(&cmd)
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    (start, args)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, text).expect("write the record");
}

/// A registered local-prod with a host service, not started; its record's path.
fn prod_with_host(env: &Env, name: &str) -> (PathBuf, PathBuf) {
    let port = free_port();
    let repo = project(
        env,
        name,
        &[
            ("compose.yaml", APP),
            ("hostsvc/index.html", "host\n"),
            ("kinfra.toml", &toml(name, port, "")),
        ],
    );
    env.kinfra(&repo, &["local-prod", "init"]).success();
    let record = env
        .kinfra_home
        .join(format!("host/{name}-prod/web-host.pid"));
    (repo, record)
}

pub fn run(t: &mut Tally) {
    if !cfg!(target_os = "linux") {
        t.case(
            "untrusted input",
            "host stop never signals a forged or reused pid",
            || crate::skip_platform("the forged records are built from /proc"),
        );
    } else {
        t.docker_case(
            "untrusted input",
            "host stop never signals a forged or reused pid",
            forged_records_and_host_stop,
        );
        t.docker_case(
            "untrusted input",
            "local-prod destroy never signals a process kinfra did not start",
            forged_record_and_destroy,
        );
    }
    t.case(
        "untrusted input",
        "variables that steer an interpreter are refused in env tables",
        steering_literals_refused,
    );
    t.docker_case(
        "untrusted input",
        "an env change after stack allow asks again",
        env_change_asks_again,
    );
}

fn forged_records_and_host_stop() -> String {
    let env = Env::new();
    let (repo, record) = prod_with_host(&env, "trustprocs");
    let mut other = bystander();
    let pid = other.id();
    let (start, cmd) = identity(pid);
    let json = |pid: i64, start: &str| {
        serde_json::json!({"pid": pid, "start": start, "command": cmd, "mark": "forged"})
            .to_string()
    };
    // Forged: the pid alone (the old format), then a record whose process started
    // at another time (its pid reused by another process), then one whose command
    // line is another's: each said stale, the record removed, nothing signalled.
    let forged = [
        (pid.to_string(), "old-format"),
        (json(i64::from(pid), &format!("{start}7")), "another process now"),
        (
            serde_json::json!({"pid": pid, "start": start, "command": ["python3", "-m", "http.server"], "mark": "forged"}).to_string(),
            "another command line",
        ),
        // Found by an attack: a record copying the process's true start time and
        // command line; only kinfra's mark in its environment tells it apart.
        (json(i64::from(pid), &start), "not started by kinfra"),
        (
            serde_json::json!({"pid": pid, "start": start, "command": cmd}).to_string(),
            "without kinfra's mark",
        ),
    ];
    let mut n = 0;
    for (text, says) in &forged {
        write(&record, text);
        let r = env.kinfra(&repo, &["local-prod", "host", "stop"]);
        r.success().no_panic().stderr_has("stale").stderr_has(says);
        assert!(!r.stderr.contains("Stopping host service"), "{r}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(runs(&mut other), "{says}: the bystander was signalled\n{r}");
        assert!(!record.exists(), "{says}: the stale record stays\n{r}");
        n += 1;
    }
    // Records kinfra never writes: exit 6, nothing signalled, the file kept.
    let untrusted = [
        (json(1, &start), "pid 1"),
        (json(-i64::from(pid), &start), "no process"),
        (json(i64::from(u32::MAX) + 7, &start), "out of range"),
        ("garbage\n\0".to_string(), "not a record"),
    ];
    for (text, says) in &untrusted {
        write(&record, text);
        let r = env.kinfra(&repo, &["local-prod", "host", "stop"]);
        r.code(6)
            .no_panic()
            .stderr_has("nothing was signalled")
            .stderr_has(says);
        assert!(runs(&mut other), "{says}: the bystander was signalled\n{r}");
        assert_eq!(
            std::fs::read_to_string(&record).expect("kept"),
            *text,
            "{r}"
        );
        let st = env.kinfra(&repo, &["local-prod", "host", "status", "--json"]);
        assert!(st.success().json()[0]["pid"].is_null(), "{st}");
        n += 1;
    }
    std::fs::remove_file(&record).expect("rm");
    let _ = other.kill();
    let _ = other.wait();
    env.kinfra(&repo, &["local-prod", "destroy", "--force"])
        .success();
    format!(
        "{n} forged records (a pid alone, a reused pid with another start time, another command line, the process's true start time and command line with a forged mark or none; pid 1, negative, huge, garbage) against `local-prod host stop`: the test's own process in its own group is never signalled; stale records are said and removed (exit 0), untrusted ones kept with exit 6"
    )
}

fn forged_record_and_destroy() -> String {
    let env = Env::new();
    let (repo, record) = prod_with_host(&env, "trustdestroy");
    // A real host service, started once allowed: destroy stops it.
    env.kinfra(&repo, &["stack", "allow"]).success();
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .success();
    let st = env.kinfra(&repo, &["local-prod", "host", "status", "--json"]);
    let real = st.success().json()[0]["pid"].as_u64().expect("pid");
    let rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).expect("record")).expect("json");
    assert_eq!(rec["pid"].as_u64(), Some(real), "the record holds the pid");
    assert!(
        rec["start"].is_string()
            && rec["command"].to_string().contains("http.server")
            && rec["mark"].as_str().is_some_and(|m| m.len() == 32),
        "{rec}"
    );
    // An untrusted record beside it: destroy refuses (exit 6) before anything
    // is signalled or removed; local-prod stays registered, its service runs.
    let junk = record.with_file_name("junk.pid");
    write(
        &junk,
        "{\"pid\": 1, \"start\": \"1\", \"command\": [\"init\"]}",
    );
    let r = env.kinfra(&repo, &["local-prod", "destroy", "--force"]);
    r.code(6).no_panic().stderr_has("junk").stderr_has("pid 1");
    assert!(
        Path::new(&format!("/proc/{real}")).exists(),
        "signalled\n{r}"
    );
    assert!(record.is_file() && junk.is_file(), "records removed\n{r}");
    assert!(
        env.registry()["local_prod"].is_object(),
        "local-prod forgotten\n{r}"
    );
    std::fs::remove_file(&junk).expect("rm");
    // Beside it, a forged record of another service naming the test's process.
    let mut other = bystander();
    let (start, cmd) = identity(other.id());
    // Its true start time and command line, and the real service's mark (a record
    // is readable): the bystander's environment still lacks it.
    write(
        &record.with_file_name("ghost.pid"),
        &serde_json::json!({"pid": other.id(), "start": start, "command": cmd, "mark": rec["mark"]}).to_string(),
    );
    let before = snapshot(&repo);
    let r = env.kinfra(&repo, &["local-prod", "destroy", "--force"]);
    r.success()
        .no_panic()
        .stderr_has("ghost")
        .stderr_has("stale")
        .stderr_has("not started by kinfra")
        .stderr_has("Stopping host service web-host");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(runs(&mut other), "the bystander was signalled\n{r}");
    let gone = (0..50).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(100));
        !Path::new(&format!("/proc/{real}")).exists()
    });
    assert!(gone, "kinfra's own host service still runs\n{r}");
    assert!(!record.parent().expect("dir").exists(), "records left\n{r}");
    // The clone keeps the repository's files (only kinfra's .env.sandbox goes).
    let after = snapshot(&repo);
    for (p, bytes) in before
        .iter()
        .filter(|(p, _)| !p.ends_with(".env.sandbox") && !p.starts_with(repo.join("logs")))
    {
        assert!(
            after.contains(&(p.clone(), bytes.clone())),
            "{} changed\n{r}",
            p.display()
        );
    }
    let _ = other.kill();
    let _ = other.wait();
    "local-prod destroy refuses (exit 6, nothing signalled or removed) beside a record naming pid 1; then stops the host service kinfra started (its record matches) and leaves the test's own process named by a forged record running, saying the record is stale".into()
}

fn steering_literals_refused() -> String {
    let env = Env::new();
    let mut n = 0;
    for (i, (table, key)) in [
        ("[local_prod.env]", "GCONV_PATH"),
        ("[local_prod.env]", "NODE_PATH"),
        ("[env]", "PERL5LIB"),
        ("[env]", "NODE_OPTIONS"),
        ("[sandbox.env]", "PYTHONSTARTUP"),
        ("[sandbox.env]", "RUBYLIB"),
        ("[local_prod.env]", "LD_PRELOAD"),
        ("[env]", "DYLD_INSERT_LIBRARIES"),
        ("[env]", "BASH_ENV"),
    ]
    .iter()
    .enumerate()
    {
        let name = format!("steer{i}");
        let text = toml(
            &name,
            18001,
            &format!("\n{table}\nOK = \"1\"\n{key} = \"/tmp/evil\"\n"),
        );
        let repo = project(
            &env,
            &name,
            &[("compose.yaml", APP), ("kinfra.toml", &text)],
        );
        let before = snapshot(&env.work);
        for args in [
            vec!["local-prod", "init"],
            vec!["sandbox", "create", "a"],
            vec!["stack", "allow"],
        ] {
            let r = env.kinfra(&repo, &args);
            r.code(2)
                .no_panic()
                .stderr_has("kinfra.toml")
                .stderr_has(key)
                .stderr_has("line 13")
                .stderr_has("steers");
            n += 1;
        }
        crate::assert_intact(&name, &before, &env.work);
        assert!(!env.registry_path().exists(), "nothing registered");
        assert!(
            !env.kinfra_home.join("allowed.json").exists(),
            "nothing allowed"
        );
    }
    format!(
        "{n} commands on descriptions whose [env], [sandbox.env] or [local_prod.env] sets an interpreter's or the loader's variable (GCONV_PATH, NODE_PATH, PERL5LIB, NODE_OPTIONS, PYTHONSTARTUP, RUBYLIB, LD_PRELOAD, DYLD_INSERT_LIBRARIES, BASH_ENV): exit 2 naming the file, key and line; nothing registered, allowed or created"
    )
}

fn env_change_asks_again() -> String {
    let env = Env::new();
    let port = free_port();
    let name = "trustenv";
    let write_toml = |repo: &Path, extra: &str| {
        std::fs::write(repo.join("kinfra.toml"), toml(name, port, extra)).expect("write");
    };
    let repo = project(
        &env,
        name,
        &[
            ("compose.yaml", APP),
            ("hostsvc/index.html", "host\n"),
            (
                "kinfra.toml",
                &toml(
                    name,
                    port,
                    "\n[local_prod.env]\nKTRDR_ENV = \"production\"\n",
                ),
            ),
        ],
    );
    env.kinfra(&repo, &["local-prod", "init"]).success();
    env.kinfra(&repo, &["stack", "allow"])
        .success()
        .stdout_has("KTRDR_ENV=production");
    let record = env
        .kinfra_home
        .join(format!("host/{name}-prod/web-host.pid"));
    let mut n = 0;
    // Each change of what reaches the host service asks again: not started.
    for (extra, shown) in [
        (
            "\n[local_prod.env]\nKTRDR_ENV = \"staging\"\n",
            "KTRDR_ENV=staging",
        ),
        (
            "\n[local_prod.env]\nKTRDR_ENV = \"production\"\nDB_URL = \"postgres://evil\"\n",
            "DB_URL=",
        ),
        (
            "\n[env]\nEXTRA = \"1\"\n[local_prod.env]\nKTRDR_ENV = \"production\"\n",
            "EXTRA=1",
        ),
        (
            "\n[local_prod.env]\nKTRDR_ENV = \"production\"\n[local_prod.secrets]\nTOKEN = \"$HOME\"\n",
            "TOKEN from $HOME",
        ),
    ] {
        write_toml(&repo, extra);
        env.kinfra(&repo, &["stack", "allow", "--show"])
            .success()
            .stdout_has("not allowed")
            .stdout_has(shown);
        let r = env.kinfra(&repo, &["local-prod", "host", "start"]);
        r.code(2)
            .no_panic()
            .stderr_has("not been allowed")
            .stderr_has(shown);
        assert!(!record.exists(), "started without being allowed\n{r}");
        assert!(
            std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
            "something answers on the host service's port\n{r}"
        );
        n += 1;
    }
    // What was allowed still runs as allowed.
    write_toml(&repo, "\n[local_prod.env]\nKTRDR_ENV = \"production\"\n");
    let shown = env.kinfra(&repo, &["stack", "allow", "--show"]);
    assert!(
        shown.success().stdout.trim_end().ends_with("\nallowed"),
        "{shown}"
    );
    env.kinfra(&repo, &["local-prod", "host", "start"])
        .success();
    env.kinfra(&repo, &["local-prod", "destroy", "--force"])
        .success()
        .stderr_has("Stopping host service web-host");
    format!(
        "{n} changes after `stack allow` to what reaches a host service ([local_prod.env] value, a new variable, [env], a secret's source): `allow --show` says not allowed and shows it, `host start` exits 2 naming it and starts nothing; the allowed text runs"
    )
}
