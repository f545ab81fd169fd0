//! The one test harness: a sealed environment per test (temp HOME and KINFRA_HOME,
//! a fake `op` first on PATH, a local bare `origin` whose path contains "ktrdr"),
//! the built binary, and failure messages that show everything.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_kinfra");
pub const SETUP_BIN: &str = env!("CARGO_BIN_EXE_kinfra-setup");

/// Docker tests share host ports, so they run one at a time: across threads and
/// across test processes (nextest, two suites at once), hence a file lock. Each
/// holder opens the file itself, and the OS lock conflicts between open files.
/// A lane (`scripts/lane-engine.sh`: an engine and host ports of its own, in a
/// network namespace of its own) has its own lock: its tests take turns only among
/// themselves.
fn docker_lock() -> std::fs::File {
    match lane() {
        Some(n) => machine_lock(&format!("docker-lane{n}")),
        None => machine_lock("docker"),
    }
}

/// The lane this test process runs in (`KINFRA_TEST_LANE`, set by
/// `scripts/lane-engine.sh run`): a small number, anything else is no lane.
fn lane() -> Option<u8> {
    std::env::var("KINFRA_TEST_LANE")
        .ok()
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|n| *n > 0)
}

/// A lock held across every test process on this machine (cargo test runs one
/// process, nextest one per test: an in-process mutex serialises only the former).
pub fn machine_lock(name: &str) -> std::fs::File {
    let path = std::env::temp_dir().join(format!("kinfra-tests-{name}.lock"));
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    f.lock()
        .unwrap_or_else(|e| panic!("lock {}: {e}", path.display()));
    f
}

pub struct Env {
    _root: tempfile::TempDir,
    pub home: PathBuf,
    pub kinfra_home: PathBuf,
    pub bin: PathBuf,
    pub work: PathBuf,
    origin: Option<PathBuf>,
    /// A fake `docker` is first on PATH ([`Env::fake_docker`]): kinfra is pointed
    /// at a TCP endpoint so it never dials the real engine's socket either.
    fake_docker: bool,
    /// Held for the test's life; declared after `_root` so it is released last.
    _docker: Option<std::fs::File>,
    /// When the Docker lock was taken: the time it is held is what the test costs
    /// the (serial) Docker suite, written down when it ends ([`note_docker_time`]).
    docker_since: Option<std::time::Instant>,
}

/// `KINFRA_TEST_TREE=today`: the KTRDR-shaped tests run on a demo shaped like
/// KTRDR's tree today (under kinfra's built-in description for it); else M6's.
pub fn tree() -> kinfra::setup::demo::Tree {
    match std::env::var("KINFRA_TEST_TREE").as_deref() {
        Ok("today") => kinfra::setup::demo::Tree::Today,
        _ => kinfra::setup::demo::Tree::M6,
    }
}

/// What the KTRDR-shaped demo of this run has, where the two trees differ.
pub struct Shape {
    /// Services of a sandbox (local-prod adds its profile's).
    pub sandbox_services: usize,
    pub local_prod_services: usize,
    /// The first five services, sorted, as an error lists them.
    pub first_services: &'static str,
    /// A service to stop for a partial state.
    pub side_service: &'static str,
    /// The variables the database password and the JWT secret reach.
    pub db_password_var: &'static str,
    pub jwt_var: &'static str,
    pub default_db_password: &'static str,
    /// local-prod's worker ports (5003-5010 at M6, 5003-5006 today).
    pub local_prod_workers: std::ops::RangeInclusive<u16>,
    /// Services local-prod's `up` must have running (its profile's included).
    pub local_prod_runs: &'static [&'static str],
}

pub fn shape() -> Shape {
    match tree() {
        kinfra::setup::demo::Tree::M6 => Shape {
            sandbox_services: 10,
            local_prod_services: 11,
            first_services: "backend, backtest-worker-1, backtest-worker-2, db, grafana",
            side_service: "grafana",
            db_password_var: "DB_PASSWORD",
            jwt_var: "JWT_SECRET",
            default_db_password: "ktrdr-insecure-default",
            local_prod_workers: 5003..=5010,
            local_prod_runs: &["mcp-local", "backtest-worker-3", "backend", "db", "jaeger"],
        },
        kinfra::setup::demo::Tree::Today => Shape {
            sandbox_services: 9,
            local_prod_services: 9,
            first_services: "assessment-agent-1, backend, backtest-worker-1, backtest-worker-2, db",
            side_service: "assessment-agent-1",
            db_password_var: "KTRDR_DB_PASSWORD",
            jwt_var: "KTRDR_AUTH_JWT_SECRET",
            default_db_password: "localdev",
            local_prod_workers: 5003..=5006,
            local_prod_runs: &[
                "mcp-local",
                "backend",
                "db",
                "design-agent-1",
                "assessment-agent-1",
            ],
        },
    }
}

/// Today's tree joins an external network and volume that a machine has once
/// (`kinfra stack check --create` makes them): made here when missing.
fn today_externals() {
    for (kind, name) in [
        ("network", "devops-ai-observability"),
        ("volume", "ktrdr-agent-claude-auth"),
    ] {
        let have = Command::new("docker")
            .args([kind, "inspect", name])
            .output()
            .is_ok_and(|o| o.status.success());
        if !have {
            let _ = Command::new("docker").args([kind, "create", name]).output();
        }
    }
}

/// `KINFRA_TEST_COMPOSE=plugin|standalone`: the compose variant every kinfra run in
/// the tests is forced to (`KINFRA_COMPOSE` itself is cleared from their environment).
pub fn compose_variant() -> Option<String> {
    std::env::var("KINFRA_TEST_COMPOSE")
        .ok()
        .filter(|v| !v.is_empty())
}

/// The docker CLI's configuration directory of whoever runs the tests, if any.
fn runner_docker_config() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))
        .filter(|d| d.is_dir())
}

/// The run opted out of Docker (`KINFRA_SKIP_DOCKER=1`): Docker tests are skipped,
/// each one listed as such (never silently green).
pub fn docker_skipped() -> bool {
    std::env::var("KINFRA_SKIP_DOCKER").is_ok_and(|v| v == "1")
}

/// Whether Docker is usable. Its absence fails the test unless the run opted out
/// (`KINFRA_SKIP_DOCKER=1`): a machine without Docker must not report passes that
/// checked nothing.
pub fn docker_available() -> bool {
    if docker_skipped() {
        return false;
    }
    let ok = Command::new("docker")
        .args(["version", "--format", "{{.Server.Version}}"])
        .output()
        .is_ok_and(|o| o.status.success())
        && Command::new("docker")
            .args(["image", "inspect", kinfra::setup::demo::IMAGE])
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "Docker (with the image {}) is required but not available: run scripts/test-deps.sh, or set KINFRA_SKIP_DOCKER=1 to skip the Docker tests (they are then listed as skipped)",
        kinfra::setup::demo::IMAGE
    );
    ok
}

/// Records a Docker test skipped under `KINFRA_SKIP_DOCKER=1`.
pub fn record_skip() {
    record_skip_because("KINFRA_SKIP_DOCKER=1");
}

/// Records a test skipped on purpose (`why`: the variable that asked): said on
/// stderr and listed in `target/tmp/skipped-tests.txt`, which `scripts/test` prints
/// at the end, so a skip never passes for a pass.
pub fn record_skip_because(why: &str) {
    let name = std::thread::current()
        .name()
        .unwrap_or("a Docker test")
        .to_string();
    eprintln!("SKIPPED ({why}): {name}");
    let list = Path::new(env!("CARGO_TARGET_TMPDIR")).join("skipped-tests.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(list)
    {
        use std::io::Write;
        let _ = writeln!(f, "{name} ({why})");
    }
}

/// Starts a Docker test; under `KINFRA_SKIP_DOCKER=1` records it as skipped and
/// returns.
#[macro_export]
macro_rules! docker_env {
    () => {
        match $crate::harness::Env::with_docker() {
            Some(e) => e,
            None => {
                $crate::harness::record_skip();
                return;
            }
        }
    };
}

impl Env {
    pub fn new() -> Env {
        let root = tempfile::Builder::new()
            .prefix("kinfra-test-")
            .tempdir()
            .expect("tempdir");
        let base = std::fs::canonicalize(root.path()).expect("canonicalize");
        let home = base.join("home");
        let kinfra_home = base.join("kinfra-home");
        let bin = base.join("bin");
        let work = base.join("work");
        for d in [&home, &kinfra_home, &bin, &work] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let env = Env {
            _root: root,
            home,
            kinfra_home,
            bin,
            work,
            origin: None,
            fake_docker: false,
            _docker: None,
            docker_since: None,
        };
        env.write_fake_op();
        env
    }

    pub fn with_docker() -> Option<Env> {
        // A skipped test never waits for the Docker lock: under the fast pass the
        // lock may be held for minutes by a Docker suite running beside it.
        if docker_skipped() {
            return None;
        }
        let guard = docker_lock();
        if !docker_available() {
            return None;
        }
        let mut e = Env::new();
        e._docker = Some(guard);
        e.docker_since = Some(std::time::Instant::now());
        Some(e)
    }

    pub fn base(&self) -> PathBuf {
        self.home.parent().expect("base").to_path_buf()
    }

    /// The bare origin (`…/ktrdr-demo-origin.git`), made on first use, shaped like
    /// the KTRDR tree the run tests ([`tree`]).
    pub fn origin(&mut self) -> PathBuf {
        if self.origin.is_none() {
            if tree() == kinfra::setup::demo::Tree::Today {
                today_externals();
            }
            let o = kinfra::setup::demo::make_origin_of(&self.base(), tree()).expect("make origin");
            self.origin = Some(o);
        }
        self.origin.clone().expect("origin")
    }

    /// A fresh clone of the origin at `work/<name>`.
    pub fn clone_repo(&mut self, name: &str) -> PathBuf {
        let origin = self.origin();
        let dest = self.work.join(name);
        git(
            &self.work,
            &["clone", "-q", origin.to_str().expect("utf8"), name],
        );
        git(&dest, &["config", "user.email", "t@example.invalid"]);
        git(&dest, &["config", "user.name", "t"]);
        dest
    }

    /// `sandbox create NAME` from `repo` (must succeed); its worktree, which kinfra
    /// puts beside the repository as `ktrdr--NAME`.
    pub fn create_sandbox(&self, repo: &Path, name: &str) -> PathBuf {
        self.kinfra(repo, &["sandbox", "create", name]).success();
        repo.parent()
            .expect("repository has a parent")
            .join(format!("ktrdr--{name}"))
    }

    pub fn kinfra(&self, cwd: &Path, args: &[&str]) -> Run {
        self.kinfra_env(cwd, args, &[])
    }

    pub fn kinfra_env(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_bin(BIN, cwd, args, env)
    }

    pub fn setup(&self, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.run_bin(SETUP_BIN, cwd, args, env)
    }

    /// A command for one of the built binaries in the sealed environment (stdin
    /// closed). `env` may override PATH.
    pub fn command(&self, bin: &str, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut c = Command::new(bin);
        c.stdin(std::process::Stdio::null());
        c.args(args)
            .current_dir(cwd)
            .env("HOME", &self.home)
            .env("KINFRA_HOME", &self.kinfra_home)
            .env("PATH", path)
            .env("NO_COLOR", "1")
            .env("FAKE_OP_DIR", self.base().join("op"))
            .env_remove("OP_SERVICE_ACCOUNT_TOKEN")
            .env_remove("CLICOLOR_FORCE");
        // Nothing of the runner's own settings leaks in: each test says what it means.
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            if k.starts_with("DOCKER_") || k.starts_with("KINFRA_") || k.starts_with("COMPOSE_") {
                c.env_remove(&*k);
            }
        }
        c.env("HOME", &self.home)
            .env("KINFRA_HOME", &self.kinfra_home)
            // `up` starts no router unless a test asks for one (tests/it/router.rs):
            // no process may outlive a test.
            .env("KINFRA_ROUTER", "off");
        if let Some(h) = engine_host() {
            c.env("DOCKER_HOST", h);
        }
        if self.fake_docker {
            // Loopback, so "local"; never dialled: only the fake answers.
            c.env("DOCKER_HOST", "tcp://127.0.0.1:9");
        }
        // The runner's docker configuration (its context: Docker Desktop's
        // `desktop-linux` on a Mac) survives the temporary HOME.
        if let Some(cfg) = runner_docker_config() {
            c.env("DOCKER_CONFIG", cfg);
        }
        // The compose variant under test (`standalone` runs the suite on v1).
        if let Some(v) = compose_variant() {
            c.env("KINFRA_COMPOSE", v);
        }
        for (k, v) in env {
            c.env(k, v);
        }
        c
    }

    /// Runs one of the built binaries in the sealed environment and captures it.
    pub fn run_bin(&self, bin: &str, cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let out = self
            .command(bin, cwd, args, env)
            .output()
            .expect("run kinfra");
        Run {
            cmdline: format!(
                "{} {}",
                Path::new(bin)
                    .file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                args.join(" ")
            ),
            cwd: cwd.to_path_buf(),
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            base: self.base(),
        }
    }

    pub fn registry_path(&self) -> PathBuf {
        self.kinfra_home.join("sandbox").join("instances.json")
    }

    pub fn registry(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.registry_path()).unwrap_or_else(|_| "{}".into());
        serde_json::from_str(&text).expect("registry is JSON")
    }

    /// The fake 1Password CLI: follows `op`'s documented JSON. State lives in
    /// `$FAKE_OP_DIR`: `signed_in` (file), `items/<name>.json`, and every call is
    /// appended to `calls.log`.
    fn write_fake_op(&self) {
        let op = self.bin.join("op");
        std::fs::write(
            &op,
            r#"#!/bin/sh
d="${FAKE_OP_DIR:?}"
mkdir -p "$d"
echo "$*" >> "$d/calls.log"
case "$1" in
  whoami)
    if [ -f "$d/signed_in" ]; then
      echo '{"url":"my.1password.com","email":"dev@example.com","user_uuid":"U1","account_uuid":"A1","user_type":"HUMAN"}'
      exit 0
    fi
    echo '[ERROR] 2026/01/01 00:00:00 account is not signed in' >&2
    exit 1 ;;
  item)
    # `desktop_app`: 1Password's app integration, where items are readable although
    # `op whoami` says not signed in.
    [ -f "$d/signed_in" ] || [ -f "$d/desktop_app" ] || { echo '[ERROR] 2026/01/01 00:00:00 You are not currently signed in. Please run `op signin --help` for instructions' >&2; exit 1; }
    if [ "$2" = create ]; then
      # `op item create --title T …` with an item JSON template on stdin.
      title=""
      while [ $# -gt 0 ]; do [ "$1" = --title ] && title="$2"; shift; done
      mkdir -p "$d/items"
      cat > "$d/items/$title.json"
      printf '{"id":"new1","title":"%s","version":1,"category":"PASSWORD"}\n' "$title"
      exit 0
    fi
    [ "$2" = get ] || { echo "[ERROR] unknown command" >&2; exit 1; }
    # `op item get ITEM [--vault VAULT] --format json`: with --vault, the item must
    # be in that vault (by name or id), as op looks it up there only.
    item="$3"; vault=""; shift 3
    while [ $# -gt 0 ]; do [ "$1" = --vault ] && vault="$2"; shift; done
    if [ -f "$d/items/$item.json" ] && { [ -z "$vault" ] || python3 -c 'import json,sys; v=json.load(open(sys.argv[1])).get("vault",{}); sys.exit(0 if sys.argv[2] in (v.get("name"), v.get("id")) else 1)' "$d/items/$item.json" "$vault"; }; then
      cat "$d/items/$item.json"; exit 0
    fi
    echo "[ERROR] 2026/01/01 00:00:00 \"$item\" isn't an item in the \"${vault:-any}\" vault. Specify the item with its UUID, name, or domain." >&2
    exit 1 ;;
  read)
    # `op read [--no-newline] [--] op://vault/item[/section]/field`: the field's value.
    [ -f "$d/signed_in" ] || { echo '[ERROR] 2026/01/01 00:00:00 You are not currently signed in. Please run `op signin --help` for instructions' >&2; exit 1; }
    ref=""; nl=1
    for a in "$@"; do case "$a" in op://*) ref="$a" ;; --no-newline|-n) nl=0 ;; esac; done
    item=$(printf '%s' "$ref" | cut -d/ -f4)
    field=$(printf '%s' "$ref" | awk -F/ '{print $NF}')
    f="$d/items/$item.json"
    [ -f "$f" ] || { echo "[ERROR] 2026/01/01 00:00:00 could not read secret '$ref': \"$item\" isn't an item in any vault" >&2; exit 1; }
    python3 - "$f" "$field" "$nl" <<'PY' || { echo "[ERROR] 2026/01/01 00:00:00 could not read secret '$ref': no field \"$field\"" >&2; exit 1; }
import json, sys
item = json.load(open(sys.argv[1]))
v = [f["value"] for f in item.get("fields", []) if f.get("label") == sys.argv[2]]
if not v:
    sys.exit(1)
sys.stdout.write(v[0] + ("\n" if sys.argv[3] == "1" else ""))
PY
    exit 0 ;;
  --version) echo 2.30.0 ;;
  *) echo "[ERROR] unknown command \"$1\"" >&2; exit 1 ;;
esac
"#,
        )
        .expect("write op");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&op, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Runs a built binary in a pseudo-terminal, answering its prompts: `steps` is a
    /// list of `[text to wait for, keys to send]` (tests/it/pty_drive.py). Returns
    /// the exit code and the transcript.
    pub fn in_pty(
        &self,
        bin: &str,
        cwd: &Path,
        args: &[&str],
        steps: serde_json::Value,
    ) -> (i32, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/pty_drive.py");
        let mut c = self.command("python3", cwd, &[], &[]);
        c.arg(&script).arg(steps.to_string()).arg(bin).args(args);
        let out = c.output().expect("python3");
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    /// Puts a fake `docker` first on PATH for the paths that only READ Docker's
    /// output: `docker ps` answers with the lines of `ps` (the `PS_FORMAT` lines
    /// captured from a real engine), filtered on the compose project label as the
    /// engine filters, and `volume ls`/`network ls` with none; `ps_fails` makes it answer as an engine that is down. Any
    /// other call fails (exit 97) and every call is logged ([`Env::docker_calls`]),
    /// so a test shows the path stayed read-only. Called again, it answers anew.
    pub fn fake_docker(&mut self, ps: &str, ps_fails: bool) {
        let dir = self.base().join("fake-docker");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("ps.txt"), ps).expect("write ps.txt");
        if ps_fails {
            std::fs::write(dir.join("down"), "").expect("write");
        } else {
            let _ = std::fs::remove_file(dir.join("down"));
        }
        let script = format!(
            r#"#!/bin/sh
d='{}'
echo "$*" >> "$d/calls.log"
if [ -f "$d/down" ]; then
  echo "Cannot connect to the Docker daemon at tcp://127.0.0.1:9. Is the docker daemon running?" >&2
  exit 1
fi
case "$1 $2" in
  "volume ls"|"network ls") exit 0 ;;  # an engine with none of the project's
  ps\ *) ;;
  *) echo "fake docker: not a read: $*" >&2; exit 97 ;;
esac
project=""
all=0
while [ $# -gt 0 ]; do
  case "$1" in
    -a) all=1 ;;
    --filter) case "$2" in label=com.docker.compose.project=*) project="${{2#label=com.docker.compose.project=}}" ;; esac; shift ;;
    --format) shift ;;
  esac
  shift
done
awk -F '	' -v p="$project" -v all="$all"   '(p == "" || $2 == p) && (all == 1 || $4 == "running")' "$d/ps.txt"
"#,
            dir.display()
        );
        let docker = self.bin.join("docker");
        std::fs::write(&docker, script).expect("write docker");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&docker, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        self.fake_docker = true;
    }

    /// Every call the fake `docker` got, one a line.
    pub fn docker_calls(&self) -> String {
        std::fs::read_to_string(self.base().join("fake-docker").join("calls.log"))
            .unwrap_or_default()
    }

    pub fn op_dir(&self) -> PathBuf {
        self.base().join("op")
    }

    pub fn op_sign_in(&self) {
        std::fs::create_dir_all(self.op_dir()).expect("mkdir");
        std::fs::write(self.op_dir().join("signed_in"), "").expect("write");
    }

    pub fn op_item(&self, name: &str, fields: &[(&str, &str)]) {
        self.op_item_in("Private", name, fields);
    }

    /// An item in the named vault (`op item get ITEM --vault VAULT` finds it).
    pub fn op_item_in(&self, vault: &str, name: &str, fields: &[(&str, &str)]) {
        let fields: Vec<serde_json::Value> = fields
            .iter()
            .map(|(l, v)| serde_json::json!({"id": l, "type": "CONCEALED", "label": l, "value": v}))
            .collect();
        let item = serde_json::json!({
            "id": "abc123", "title": name, "version": 1,
            "vault": {"id": "v1", "name": vault}, "category": "LOGIN",
            "fields": fields
        });
        let dir = self.op_dir().join("items");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join(format!("{name}.json")), item.to_string()).expect("write");
    }

    pub fn op_calls(&self) -> String {
        std::fs::read_to_string(self.op_dir().join("calls.log")).unwrap_or_default()
    }
}

impl Drop for Env {
    /// Removes whatever Docker still holds for this test's instances.
    fn drop(&mut self) {
        if self._docker.is_none() {
            return;
        }
        let reg = self.registry();
        let mut projects: Vec<String> = Vec::new();
        if let Some(lp) = reg.get("local_prod").and_then(|v| v.get("instance_id")) {
            projects.extend(lp.as_str().map(String::from));
        }
        if let Some(obj) = reg.get("instances").and_then(|v| v.as_object()) {
            projects.extend(obj.keys().cloned());
        }
        let side = std::fs::read_to_string(self.registry_path().with_file_name("kinfra.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok());
        for records in [reg.get("kinfra"), side.as_ref()].into_iter().flatten() {
            if let Some(obj) = records.get("projects").and_then(|v| v.as_object()) {
                projects.extend(obj.keys().cloned());
            }
        }
        for p in projects {
            let _ = kinfra::tools::docker::remove_project(&p, None, true);
        }
        if let Some(since) = self.docker_since {
            note_docker_time(since.elapsed());
        }
    }
}

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

thread_local! {
    /// The engine this test thread's docker calls and kinfra commands go to
    /// (`DOCKER_HOST`); the runner's own when unset.
    static ENGINE: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// From now on, this test's docker calls ([`docker_command`]) and kinfra commands
/// go to the engine at `host`.
pub fn use_engine(host: &str) {
    ENGINE.with(|e| *e.borrow_mut() = Some(host.to_string()));
}

fn engine_host() -> Option<String> {
    ENGINE.with(|e| e.borrow().clone())
}

/// `docker`, on this test's engine.
pub fn docker_command() -> Command {
    let mut c = Command::new("docker");
    if let Some(h) = engine_host() {
        c.env("DOCKER_HOST", h);
    }
    c
}

/// `docker` on the engine at `host`: its stdout, or a panic with its stderr.
#[track_caller]
pub fn docker_on(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .env("DOCKER_HOST", host)
        .args(args)
        .output()
        .expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?} on {host}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Runs docker on the test's engine and returns what it printed. A failed docker
/// command fails the test: "nothing left" read from a docker that did not answer
/// would pass without checking anything.
#[track_caller]
pub fn docker(args: &[&str]) -> String {
    let out = docker_command().args(args).output().expect("docker");
    assert!(
        out.status.success(),
        "docker {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of containers / volumes / networks labelled with a compose project.
pub fn docker_objects(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut out = Vec::new();
    for kind in [
        &["ps", "-a", "--format", "{{.Names}}"][..],
        &["volume", "ls", "--format", "{{.Name}}"][..],
        &["network", "ls", "--format", "{{.Name}}"][..],
    ] {
        let mut args: Vec<&str> = kind.to_vec();
        args.extend(["--filter", &label]);
        out.extend(docker(&args).lines().map(String::from));
    }
    out
}

/// Names of the running services of a project.
pub fn running_services(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let mut v: Vec<String> = docker(&[
        "ps",
        "--filter",
        &label,
        "--format",
        "{{.Label \"com.docker.compose.service\"}}",
    ])
    .lines()
    .map(String::from)
    .collect();
    v.sort();
    v
}

/// Runs `cmd` with `input` on its stdin (then closed), capturing stdout and stderr.
pub fn output_with_stdin(cmd: &mut Command, input: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

/// Clone staging directories (`.NAME.kinfra-partial-*`) left in `dir`: a failed
/// or killed clone must leave none behind.
pub fn staging_leftovers(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("ls")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .map(|e| e.path())
        .collect()
}

/// Every file under `dir` with its bytes, for byte-for-byte comparisons.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    fn walk(d: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        let mut entries: Vec<_> = std::fs::read_dir(d).expect("read_dir").flatten().collect();
        entries.sort_by_key(|e| e.path());
        for e in entries {
            let p = e.path();
            let ft = e.file_type().expect("file type");
            if ft.is_dir() {
                out.push((p.clone(), b"<dir>".to_vec()));
                walk(&p, out);
            } else if ft.is_symlink() {
                out.push((
                    p.clone(),
                    std::fs::read_link(&p)
                        .expect("link")
                        .into_os_string()
                        .into_encoded_bytes(),
                ));
            } else {
                out.push((p.clone(), std::fs::read(&p).expect("read")));
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, &mut v);
    v
}

pub struct Run {
    pub cmdline: String,
    pub cwd: PathBuf,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    base: PathBuf,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "command: {}\ncwd: {}\nexit: {}",
            self.cmdline,
            self.cwd.display(),
            self.code
        )?;
        writeln!(f, "--- stdout ---\n{}", self.stdout)?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)?;
        let reg = std::fs::read_to_string(self.base.join("kinfra-home/sandbox/instances.json"))
            .unwrap_or_else(|_| "(no registry)".into());
        writeln!(f, "--- registry ---\n{reg}")?;
        let listing = Command::new("find")
            .arg(&self.base)
            .args(["-maxdepth", "3", "-not", "-path", "*/.git/*"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        write!(f, "--- files ---\n{listing}")
    }
}

impl Run {
    #[track_caller]
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success\n{self}");
        self
    }
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}\n{self}");
        self
    }
    #[track_caller]
    pub fn stderr_has(&self, s: &str) -> &Self {
        assert!(self.stderr.contains(s), "stderr lacks {s:?}\n{self}");
        self
    }
    #[track_caller]
    pub fn stdout_has(&self, s: &str) -> &Self {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}\n{self}");
        self
    }
    #[track_caller]
    pub fn no_panic(&self) -> &Self {
        assert!(!self.stderr.contains("panicked"), "panicked\n{self}");
        assert!(self.code != 101, "panicked\n{self}");
        self
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{self}"))
    }
}

/// A compose project `name` made of `files`: committed in a bare origin
/// (`base/origins/<name>.git`) and cloned at `work/<name>`, with a git identity set.
pub fn project(env: &Env, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let src = env.base().join(format!("{name}-src"));
    for (path, text) in files {
        let p = src.join(path);
        std::fs::create_dir_all(p.parent().expect("project dir")).expect("project files");
        std::fs::write(p, text).expect("project files");
    }
    git(&src, &["init", "-q", "-b", "main"]);
    git(&src, &["add", "-A"]);
    git(
        &src,
        &[
            "-c",
            "user.email=t@example.invalid",
            "-c",
            "user.name=t",
            "commit",
            "-q",
            "-m",
            name,
        ],
    );
    let origin = env.base().join("origins").join(format!("{name}.git"));
    git(
        &env.base(),
        &[
            "clone",
            "-q",
            "--bare",
            src.to_str().expect("utf8"),
            origin.to_str().expect("utf8"),
        ],
    );
    git(
        &env.work,
        &["clone", "-q", origin.to_str().expect("utf8"), name],
    );
    let clone = env.work.join(name);
    git(&clone, &["config", "user.email", "t@example.invalid"]);
    git(&clone, &["config", "user.name", "t"]);
    clone
}

/// The container id of a project's service (any compose naming scheme).
pub fn container_of(project: &str, service: &str) -> String {
    let p = format!("label=com.docker.compose.project={project}");
    let s = format!("label=com.docker.compose.service={service}");
    docker(&["ps", "-a", "-q", "--filter", &p, "--filter", &s])
        .lines()
        .next()
        .unwrap_or_else(|| panic!("no container for {project}/{service}"))
        .to_string()
}

/// Writes a marker file into every volume of a project (as a database's data would
/// be); returns the volume names, for [`assert_marked`].
pub fn mark_volumes(project: &str) -> Vec<String> {
    let label = format!("label=com.docker.compose.project={project}");
    let vols: Vec<String> = docker(&["volume", "ls", "-q", "--filter", &label])
        .lines()
        .map(String::from)
        .collect();
    assert!(!vols.is_empty(), "project {project} has no volumes to mark");
    for v in &vols {
        let out = docker_command()
            .args([
                "run",
                "--rm",
                "-v",
                &format!("{v}:/m"),
                kinfra::setup::demo::IMAGE,
            ])
            .args([
                "sh",
                "-c",
                &format!("echo 'data of {v}' > /m/kinfra-marker"),
            ])
            .output()
            .expect("docker run");
        assert!(
            out.status.success(),
            "marking {v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    vols
}

/// Every volume still exists and still holds its marker.
#[track_caller]
pub fn assert_marked(vols: &[String], context: &dyn std::fmt::Display) {
    for v in vols {
        let out = docker_command()
            .args([
                "run",
                "--rm",
                "-v",
                &format!("{v}:/m:ro"),
                kinfra::setup::demo::IMAGE,
            ])
            .args(["cat", "/m/kinfra-marker"])
            .output()
            .expect("docker run");
        // `docker run -v NAME:…` would create a missing volume: check it existed.
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("data of {v}")),
            "volume {v} lost its data ({})\n{context}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A built binary stopped at a named step (`KINFRA_TEST_PAUSE_AT`) until resumed or
/// killed: for racing a second command against it, or a `kill -9` at that step.
pub struct Paused {
    pub child: std::process::Child,
    flag: PathBuf,
    /// What its stderr said before [`Paused::resume`] (read by [`Paused::interrupt`]).
    said: Vec<u8>,
}

impl Paused {
    /// Spawns `bin` and returns once it has reached `step` (stdout discarded,
    /// stderr captured).
    pub fn start(
        env: &Env,
        bin: &str,
        cwd: &Path,
        args: &[&str],
        step: &str,
        extra: &[(&str, &str)],
    ) -> Paused {
        use std::process::Stdio;
        use std::time::{Duration, Instant};
        // One flag file per step and command line, a plain file name (arguments may
        // hold paths).
        let name: String = format!("pause-{step}-{}", args.join("-"))
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .take(120)
            .collect();
        let flag = env.base().join(name);
        let _ = std::fs::remove_file(&flag);
        let flag_s = flag.display().to_string();
        let mut vars = vec![
            ("KINFRA_TEST_PAUSE_AT", step),
            ("KINFRA_TEST_PAUSE_FILE", flag_s.as_str()),
        ];
        vars.extend_from_slice(extra);
        let mut child = env
            .command(bin, cwd, args, &vars)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        let deadline = Instant::now() + Duration::from_secs(120);
        while !flag.exists() {
            if let Ok(Some(st)) = child.try_wait() {
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{args:?} ended ({st}) before reaching {step}:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            assert!(Instant::now() < deadline, "{args:?} never reached {step}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Paused {
            child,
            flag,
            said: Vec::new(),
        }
    }

    /// Ctrl-C (SIGINT), then waits until it has noted it (its stderr says
    /// "interrupted:") or ended: its handler runs on a thread of its own, which a
    /// loaded machine may not run before a resume lets the work go on.
    pub fn interrupt(&mut self) {
        use std::io::Read;
        let st = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill -INT");
        assert!(st.success());
        let mut err = self.child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut byte = [0u8; 1];
            while !seen.windows(12).any(|w| w == b"interrupted:") {
                match err.read(&mut byte) {
                    Ok(1) => seen.push(byte[0]),
                    _ => break, // ended: resume sees how
                }
            }
            let _ = tx.send((seen, err));
        });
        match rx.recv_timeout(std::time::Duration::from_secs(60)) {
            Ok((seen, err)) => {
                self.said.extend(seen);
                self.child.stderr = Some(err);
            }
            Err(_) => {
                let _ = self.child.kill();
                panic!("Ctrl-C was never noted within 60 s");
            }
        }
    }

    /// Lets it go on; returns its exit code and stderr once it ends.
    pub fn resume(mut self) -> (i32, String) {
        use std::io::Read;
        let _ = std::fs::remove_file(&self.flag);
        let mut rest = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut rest);
        }
        let st = self.child.wait().expect("wait");
        let err = String::from_utf8_lossy(&self.said).into_owned() + &rest;
        (st.code().unwrap_or(-1), err)
    }

    /// `kill -9`, then the flag is cleared.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9"); // SIGKILL
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.flag);
    }
}

/// Adds a service whose container cannot start to an instance's compose file:
/// compose itself then fails, after it has created (and started) the others.
pub fn add_unstartable_service(dir: &Path) {
    let file = dir.join("docker-compose.sandbox.yml");
    let text = std::fs::read_to_string(&file).expect("compose file");
    let broken = text.replacen(
        "services:\n",
        "services:\n  unstartable:\n    image: busybox:1.35\n    command: [\"/no/such/program\"]\n\n",
        1,
    );
    assert_ne!(broken, text);
    std::fs::write(&file, broken).expect("write");
}

/// The volumes of kinfra's data snapshots (any project).
pub fn snapshot_volumes() -> Vec<String> {
    docker(&[
        "volume",
        "ls",
        "-q",
        "--filter",
        "label=dev.kinfra.snapshot",
    ])
    .lines()
    .map(String::from)
    .collect()
}

/// Every container of `project` runs (none paused, none stopped; at least one).
pub fn all_running(project: &str) -> bool {
    let p = format!("label=com.docker.compose.project={project}");
    let s = docker(&["ps", "-a", "--filter", &p, "--format", "{{.State}}"]);
    !s.trim().is_empty() && s.lines().all(|l| l == "running")
}

/// Waits (up to 15 s) until `f` holds: what a detached step (the data copy's
/// watchdog, which acts within ~50 ms of a death) does is seen from outside.
#[track_caller]
pub fn eventually(what: &str, f: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !f() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// `wget URL` run inside `container`, once it answers: a service without a health
/// check was only seen running by `up`, and its server may listen a moment later
/// (later still under load). The body, trimmed.
#[track_caller]
pub fn wget_in(container: &str, url: &str) -> String {
    eventually(&format!("{url} answers in {container}"), || {
        docker_command()
            .args(["exec", container, "wget", "-q", "-O", "/dev/null", url])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    docker(&["exec", container, "wget", "-q", "-O", "-", url])
        .trim()
        .to_string()
}

/// `GET path` on localhost:port, the body (empty when nothing answers).
pub fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// The value of `key` in an env file's text, as a port.
pub fn port_of(env_text: &str, key: &str) -> u16 {
    env_text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in\n{env_text}"))
}

/// A router a test started in its kinfra home: stopped when dropped (`router
/// stop`, then SIGKILL to the recorded pid if it still runs a `router run`), so no
/// process outlives the test.
pub struct RouterGuard<'e> {
    pub env: &'e Env,
    pub port: u16,
}

impl<'e> RouterGuard<'e> {
    /// `kinfra router start` on `port` (must succeed).
    pub fn start(env: &'e Env, port: u16) -> RouterGuard<'e> {
        let g = RouterGuard { env, port };
        g.run(&["router", "start"]).success();
        g
    }

    /// A guard for a router something else (`up`) starts on `port`.
    pub fn adopt(env: &'e Env, port: u16) -> RouterGuard<'e> {
        RouterGuard { env, port }
    }

    /// kinfra with this router's port and the router on.
    pub fn run(&self, args: &[&str]) -> Run {
        let vars = self.vars();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.env.kinfra_env(&self.env.work, args, &vars)
    }

    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("KINFRA_ROUTER", "on".to_string()),
            ("KINFRA_ROUTER_PORT", self.port.to_string()),
        ]
    }

    /// The router's pid as `router status --json` says (none: not running).
    pub fn pid(&self) -> Option<u32> {
        let s = self.run(&["router", "status", "--json"]).json();
        s["pid"].as_u64().map(|p| p as u32)
    }
}

impl Drop for RouterGuard<'_> {
    fn drop(&mut self) {
        let pid = self.pid();
        let _ = self.run(&["router", "stop"]);
        if let Some(pid) = pid {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains("router\0run") {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
    }
}

/// A plain HTTP/1.1 service on 127.0.0.1:`port` (python3) for the router's tests:
/// answers each request with its name, path, the `Host` and `X-Forwarded-*` it
/// got, the body's length and the number of its connection; an `Upgrade` request
/// gets a 101, then every byte back in capitals. Killed when dropped.
pub struct Backend(std::process::Child);

const BACKEND: &str = r#"
import socket, sys, threading
NAME, PORT = sys.argv[1], int(sys.argv[2])
count = [0]
def serve(c, n):
    f = c.makefile('rb')
    try:
        while True:
            line = f.readline()
            if not line:
                return
            h = {}
            while True:
                l = f.readline()
                if l in (b'\r\n', b'\n', b''):
                    break
                k, _, v = l.decode('latin-1').partition(':')
                k = k.strip().lower()
                h[k] = h[k] + ', ' + v.strip() if k == 'x-forwarded-for' and k in h else v.strip()
            if 'chunked' in h.get('transfer-encoding', ''):
                body = b''
                while True:
                    size = int(f.readline().split(b';')[0].strip() or b'0', 16)
                    if size == 0:
                        while f.readline() not in (b'\r\n', b'\n', b''):
                            pass
                        break
                    body += f.read(size)
                    f.readline()
            else:
                body = f.read(int(h.get('content-length', '0') or 0))
            if h.get('upgrade'):
                c.sendall(b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n')
                while True:
                    d = c.recv(4096)
                    if not d:
                        return
                    c.sendall(d.upper())
            path = line.split()[1].decode('latin-1')
            out = ('%s path=%s host=%s xfh=%s xfp=%s len=%d xff=%s conn=%d' % (NAME, path, h.get('host'), h.get('x-forwarded-host'), h.get('x-forwarded-proto'), len(body), h.get('x-forwarded-for'), n)).encode()
            c.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n' % len(out) + out)
            if h.get('connection', '').lower() == 'close':
                return
    except Exception:
        pass
    finally:
        c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('127.0.0.1', PORT))
s.listen(64)
print('ready', flush=True)
while True:
    c, _ = s.accept()
    count[0] += 1
    threading.Thread(target=serve, args=(c, count[0]), daemon=True).start()
"#;

impl Backend {
    pub fn start(name: &str, port: u16) -> Backend {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .args(["-c", BACKEND, name, &port.to_string()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        assert_eq!(
            line.trim(),
            "ready",
            "backend {name} on {port} did not start"
        );
        Backend(child)
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Registers instances by hand (no Docker): `(id, slot, ports)` with `ports` as
/// kinfra records them (`PORT_WEB_80` → host port). The router routes by these.
/// One instance registered by hand: its id, slot and ports (key → host port).
pub type FakeInstance<'a> = (&'a str, u8, &'a [(&'a str, u16)]);

pub fn register_fake(env: &Env, instances: &[FakeInstance]) {
    let dir = env.kinfra_home.join("sandbox");
    std::fs::create_dir_all(&dir).expect("registry dir");
    let mut entries = serde_json::Map::new();
    let mut ports = serde_json::Map::new();
    let mut local_prod = serde_json::Value::Null;
    for (id, slot, p) in instances {
        let e = serde_json::json!({
            "instance_id": id, "slot": slot, "path": env.work.join(id),
            "created_at": "2026-01-01T00:00:00Z", "is_worktree": *slot > 0, "parent_repo": null
        });
        if *slot == 0 {
            local_prod = e;
        } else {
            entries.insert((*id).to_string(), e);
        }
        let m: serde_json::Map<String, serde_json::Value> = p
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).into()))
            .collect();
        ports.insert((*id).to_string(), m.into());
    }
    let reg = serde_json::json!({"version": 1, "local_prod": local_prod, "instances": entries});
    std::fs::write(dir.join("instances.json"), reg.to_string()).expect("registry");
    let side = serde_json::json!({ "version": 1, "ports": ports });
    std::fs::write(dir.join("kinfra.json"), side.to_string()).expect("kinfra.json");
}

/// Sends `raw` to 127.0.0.1:`port` and reads until the peer closes or `limit`
/// passes; what came back.
pub fn raw_http(port: u16, raw: &[u8], limit: std::time::Duration) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(limit)).expect("timeout");
    let _ = s.write_all(raw);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /` through the router at `port` with `Host: host`, the whole answer.
pub fn routed_get(port: u16, host: &str, path: &str) -> String {
    raw_http(
        port,
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        std::time::Duration::from_secs(10),
    )
}

/// Writes what `up` records of an instance's resolved model (the project's own
/// port of each published port), for router tests without Docker.
pub fn fake_model_meta(env: &Env, id: &str, bases: &[(&str, u16)]) {
    let dir = env.kinfra_home.join("sandbox/compose");
    std::fs::create_dir_all(&dir).expect("compose dir");
    let meta = serde_json::json!({
        "key": "test", "services": [], "bases": bases, "ports": {}
    });
    std::fs::write(dir.join(format!("{id}.meta.json")), meta.to_string()).expect("meta");
}

/// Appends the test's hold of the Docker lock to `docker-test-times.txt` (seconds,
/// test name), from which `scripts/test` prints the slowest: the Docker tests run one
/// at a time, so their sum is most of CI's time and this says where it goes.
fn note_docker_time(held: std::time::Duration) {
    use std::io::Write;
    let name = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_string();
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("docker-test-times.txt");
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let lane = lane().map(|n| format!(" (lane {n})")).unwrap_or_default();
        let _ = writeln!(f, "{:.1} {name}{lane}", held.as_secs_f64());
    }
}
