//! Data branches on real parts: a real Postgres (built from Debian's packages by
//! scripts/postgres-image.sh), real volumes, real pauses. Rows written in local-prod
//! reach a sandbox made from it and never come back; copies taken while a writer
//! runs always recover; a copy killed at each step leaves its source running and
//! unchanged.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::{
    Env, Paused, all_running, container_of, docker, docker_command, docker_on, eventually, project,
    snapshot_volumes, use_engine,
};

pub const PG_IMAGE: &str = "kinfra-test/postgres:15-bookworm";

/// A project with a Postgres and a file-writing service, each on a named volume,
/// no healthchecks and no configuration (the common real shape).
pub const COMPOSE: &str = "services:
  db:
    image: kinfra-test/postgres:15-bookworm
    volumes:
      - pgdata:/var/lib/postgresql/data
  files:
    image: busybox:1.35
    command: [\"sh\", \"-c\", \"while true; do date >> /data/log; sleep 1; done\"]
    volumes:
      - files:/data
  cache:
    image: busybox:1.35
    command: [\"sh\", \"-c\", \"echo built > /c/x; sleep 3600\"]
    volumes:
      - build-cache:/c
volumes:
  pgdata:
  files:
  build-cache:
";

/// The Postgres image must be there: a data test that cannot run fails.
fn require_pg_image() {
    let ok = docker_command()
        .args(["image", "inspect", PG_IMAGE])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "the data tests need {PG_IMAGE}: run scripts/postgres-image.sh (scripts/test-deps.sh does)"
    );
}

/// `psql -tAc SQL` in `project`'s db, once it accepts connections (up to 60 s).
#[track_caller]
pub fn psql(project: &str, sql: &str) -> String {
    let db = container_of(project, "db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = docker_command()
            .args([
                "exec",
                &db,
                "psql",
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-tAc",
                sql,
            ])
            .output()
            .expect("docker exec");
        if out.status.success() {
            return String::from_utf8_lossy(&out.stdout).trim().to_string();
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        let starting = err.contains("starting up")
            || err.contains("No such file")
            || err.contains("Connection refused")
            || err.contains("is not running")
            || err.contains("shutting down")
            || err.contains("not yet accepting connections");
        assert!(
            starting && Instant::now() < deadline,
            "psql {sql:?} in {project}: {err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn count(project: &str) -> i64 {
    psql(project, "select count(*) from t")
        .parse()
        .expect("a count")
}

fn shop(env: &Env) -> std::path::PathBuf {
    let prod = project(env, "shop", &[("compose.yaml", COMPOSE)]);
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["local-prod", "up", "--timeout", "90"])
        .success();
    psql("shop-prod", "create table t(x int primary key)");
    psql("shop-prod", "insert into t select generate_series(1, 100)");
    prod
}

fn sandbox_dir(prod: &Path, name: &str) -> std::path::PathBuf {
    prod.parent().expect("parent").join(format!("shop--{name}"))
}

#[test]
fn rows_branch_with_the_code_and_never_flow_back() {
    let Some((env, _lane)) = data_env() else {
        return;
    };
    require_pg_image();
    let prod = shop(&env);

    // A snapshot of the running local-prod (from its own clone): both services'
    // volumes, not the cache; the pause is said.
    let r = env.kinfra(&prod, &["snapshot", "save", "base", "--json"]);
    r.success()
        .stderr_has("data volumes: files, pgdata")
        .stderr_has("not build-cache: a cache")
        .stderr_has("shop-prod was paused");
    let saved = r.json();
    assert_eq!(saved["snapshot"]["name"], "base");
    assert_eq!(
        saved["snapshot"]["volumes"].as_array().map(Vec::len),
        Some(2)
    );
    assert!(saved["copy"]["paused_ms"].as_u64().is_some(), "{saved}");
    assert!(all_running("shop-prod"), "shop-prod: every container runs");
    psql(
        "shop-prod",
        "insert into t select generate_series(101, 150)",
    );

    // From the snapshot: its 100 rows; from local-prod itself: all 150.
    env.kinfra(&prod, &["sandbox", "create", "a", "--data", "base"])
        .success()
        .stderr_has("from snapshot base");
    env.kinfra(&prod, &["sandbox", "create", "b", "--data", "local-prod"])
        .success()
        .stderr_has("shop-prod was paused");
    let (a, b) = (sandbox_dir(&prod, "a"), sandbox_dir(&prod, "b"));
    env.kinfra(&a, &["sandbox", "up", "--timeout", "90"])
        .success();
    env.kinfra(&b, &["sandbox", "up", "--timeout", "90"])
        .success();
    assert_eq!(count("shop--a"), 100);
    assert_eq!(count("shop--b"), 150);
    // The file service's volume came too; the cache did not.
    let log = docker(&[
        "exec",
        &container_of("shop--a", "files"),
        "wc",
        "-l",
        "/data/log",
    ]);
    assert!(
        log.split_whitespace()
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| n >= 1),
        "{log}"
    );

    // Writes in a sandbox stay there.
    psql("shop--a", "insert into t values (1000), (1001)");
    assert_eq!(count("shop--a"), 102);
    assert_eq!(count("shop-prod"), 150);
    assert_eq!(count("shop--b"), 150);

    // reset: asks (no terminal: refused, nothing changed), then back to the snapshot.
    env.kinfra(&a, &["sandbox", "reset"])
        .code(2)
        .stderr_has("--yes");
    assert_eq!(count("shop--a"), 102);
    env.kinfra(&a, &["sandbox", "reset", "--yes"])
        .success()
        .stderr_has("from snapshot base");
    assert_eq!(count("shop--a"), 100);
    assert!(all_running("shop--a"), "shop--a: every container runs");
    // …or to another source.
    env.kinfra(
        &prod,
        &["sandbox", "reset", "a", "--data", "local-prod", "--yes"],
    )
    .success();
    assert_eq!(count("shop--a"), 150);
    assert_eq!(count("shop-prod"), 150);

    // list: size, source, the source's commit; destroy and prune leave snapshots.
    let head = crate::harness::git(&prod, &["rev-parse", "HEAD"]);
    let listed = env
        .kinfra(&prod, &["snapshot", "list", "--json"])
        .success()
        .json();
    assert_eq!(listed["snapshots"][0]["name"], "base");
    assert_eq!(listed["snapshots"][0]["source"], "shop-prod");
    assert!(
        head.trim()
            .starts_with(listed["snapshots"][0]["commit"].as_str().unwrap_or("x")),
        "{listed}"
    );
    assert!(
        listed["snapshots"][0]["bytes"]
            .as_u64()
            .is_some_and(|b| b > 1 << 20),
        "{listed}"
    );
    env.kinfra(&prod, &["sandbox", "destroy", "b"]).success();
    env.kinfra(&prod, &["sandbox", "prune"]).success();
    assert_eq!(snapshot_volumes().len(), 2);
    env.kinfra(&prod, &["snapshot", "list"])
        .success()
        .stdout_has("base");

    // rm: gone; the sandbox made from it keeps its data; reset to it says why not
    // (a reset from another source made that its source).
    env.kinfra(&prod, &["snapshot", "rm", "base"]).success();
    assert!(snapshot_volumes().is_empty());
    assert_eq!(count("shop--a"), 150);
    env.kinfra(&a, &["sandbox", "reset", "--data", "base", "--yes"])
        .code(2)
        .stderr_has("it has none");
    assert_eq!(count("shop--a"), 150);
    env.kinfra(&prod, &["sandbox", "destroy", "a"]).success();
    env.kinfra(&prod, &["local-prod", "destroy", "--yes"])
        .success();
}

#[test]
fn copies_taken_while_a_writer_runs_always_recover() {
    let Some((env, _lane)) = data_env() else {
        return;
    };
    writer_rounds(&env, None);
}

#[test]
fn on_a_copy_on_write_filesystem_copies_taken_while_a_writer_runs_recover() {
    let Some((env, _cow)) = cow_env() else { return };
    writer_rounds(&env, Some("copy-on-write (reflink)"));
}

/// Copies of a running local-prod under two writers, each consistent; `method`,
/// when known, is how this engine copies.
fn writer_rounds(env: &Env, method: Option<&str>) {
    require_pg_image();
    let prod = shop(env);
    // Each transaction inserts 2000 indexed rows and adds 1 to a counter: a
    // consistent copy holds 2000 rows per commit, and every heap row is in the
    // index (pg_amcheck --heapallindexed). Two writers keep the files changing
    // during every copy. (With 5000 rows a commit, copies made without the pause
    // failed this by the third round: rows of commits the copied counter missed;
    // this size keeps the test near a minute and does not always catch that.)
    start_writers("shop-prod");
    wait_for_commits("shop-prod", 20);
    let made = env.kinfra(&prod, &["sandbox", "create", "c", "--data", "local-prod"]);
    made.success();
    if let Some(m) = method {
        made.stderr_has(m);
    }
    let c = sandbox_dir(&prod, "c");
    env.kinfra(&c, &["sandbox", "up", "--timeout", "90"])
        .success();
    let mut seen = Vec::new();
    for round in 0..3 {
        if round > 0 {
            env.kinfra(&c, &["sandbox", "reset", "--yes"]).success();
        }
        seen.push(assert_consistent("shop--c", &format!("round {round}")));
    }
    // The writer really ran between copies.
    assert!(seen.windows(2).any(|w| w[1] > w[0]), "{seen:?}");
    assert!(all_running("shop-prod"), "shop-prod: every container runs");
    env.kinfra(&prod, &["sandbox", "destroy", "c"]).success();
    env.kinfra(&prod, &["local-prod", "destroy", "--yes"])
        .success();
}

/// Starts two writers in `project`'s db: each transaction inserts 2000 indexed
/// rows into `w` and adds 1 to `n.c` (a consistent copy holds 2000 rows a commit).
fn start_writers(project: &str) {
    psql(
        project,
        "create table w(x int); create index on w(x); create table n(c int); insert into n values (0)",
    );
    let db = container_of(project, "db");
    for _ in 0..2 {
        docker(&[
            "exec",
            "-d",
            &db,
            "sh",
            "-c",
            "while true; do psql -U postgres -qc 'begin; insert into w select generate_series(1, 2000); update n set c = c + 1; commit;' >/dev/null 2>&1; done",
        ]);
    }
}

/// Waits until the writers of [`start_writers`] have committed `n` times: the
/// copies that follow then meet a database being written, not one still idle.
#[track_caller]
fn wait_for_commits(project: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let c: i64 = psql(project, "select c from n").parse().expect("counter");
        if c >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{project}: the writers made {c} commit(s) in a minute"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The copy in `project` is consistent: 2000 rows per counted commit, and every
/// heap row in its index. Returns the commits.
#[track_caller]
fn assert_consistent(project: &str, what: &str) -> i64 {
    let rows: i64 = psql(project, "select count(*) from w")
        .parse()
        .expect("count");
    let bumps: i64 = psql(project, "select c from n").parse().expect("counter");
    assert_eq!(rows, bumps * 2000, "{what}: {rows} rows, {bumps} commits");
    let check = docker_command()
        .args([
            "exec",
            &container_of(project, "db"),
            "pg_amcheck",
            "-U",
            "postgres",
            "--heapallindexed",
            "--install-missing",
            "postgres",
        ])
        .output()
        .expect("pg_amcheck");
    assert!(
        check.status.success(),
        "{what}: pg_amcheck: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    bumps
}

#[test]
fn online_copies_stream_a_running_postgres_without_pausing_it() {
    let Some((env, _lane)) = data_env() else {
        return;
    };
    require_pg_image();
    let prod = shop(&env);
    start_writers("shop-prod");
    wait_for_commits("shop-prod", 20);
    let db = container_of("shop-prod", "db");
    let since = docker(&["system", "info", "--format", "{{.SystemTime}}"]);
    let r = env.kinfra(&prod, &["snapshot", "save", "on", "--online", "--json"]);
    r.success().stderr_has("online from its running Postgres");
    let saved = r.json();
    let online = saved["copy"]["online"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(online.len(), 1, "{saved}");
    assert!(
        online[0].as_str().is_some_and(|v| v.contains("pgdata")),
        "{saved}"
    );
    // The file-writing service's volume took the pause path; the db never paused.
    assert!(saved["copy"]["paused_ms"].as_u64().is_some(), "{saved}");
    let until = docker(&["system", "info", "--format", "{{.SystemTime}}"]);
    let pauses = docker(&[
        "events",
        "--since",
        since.trim(),
        "--until",
        until.trim(),
        "--filter",
        "event=pause",
        "--format",
        "{{.Actor.ID}}",
    ]);
    assert!(!pauses.is_empty(), "the files service was paused");
    assert!(
        !pauses
            .lines()
            .any(|id| db.starts_with(id.trim()) || id.trim().starts_with(&db)),
        "the db was paused during an online copy: {pauses}"
    );
    env.kinfra(&prod, &["sandbox", "create", "o", "--data", "on"])
        .success();
    let o = sandbox_dir(&prod, "o");
    env.kinfra(&o, &["sandbox", "up", "--timeout", "90"])
        .success();
    let mut seen = vec![assert_consistent("shop--o", "from the online snapshot")];
    for round in 1..3 {
        env.kinfra(
            &o,
            &[
                "sandbox",
                "reset",
                "--data",
                "local-prod",
                "--online",
                "--yes",
            ],
        )
        .success();
        seen.push(assert_consistent(
            "shop--o",
            &format!("online reset {round}"),
        ));
    }
    assert!(seen.windows(2).any(|w| w[1] > w[0]), "{seen:?}");
    assert!(all_running("shop-prod"), "shop-prod: every container runs");
    // Bad input, nothing changed: a snapshot is copied as saved; a stopped source.
    env.kinfra(
        &prod,
        &["sandbox", "create", "p", "--data", "on", "--online"],
    )
    .code(2)
    .stderr_has("drop --online");
    env.kinfra(&prod, &["sandbox", "destroy", "o"]).success();
    env.kinfra(&prod, &["snapshot", "rm", "on"]).success();
    env.kinfra(&prod, &["local-prod", "destroy", "--yes"])
        .success();
}

#[test]
fn a_copy_killed_at_each_step_leaves_its_source_running_and_unchanged() {
    let Some((env, _lane)) = data_env() else {
        return;
    };
    killed_at_each_step(&env);
}

#[test]
fn on_a_copy_on_write_filesystem_a_killed_copy_leaves_its_source_unchanged() {
    let Some((env, _cow)) = cow_env() else { return };
    killed_at_each_step(&env);
}

/// A save killed (`kill -9`) at each step, or interrupted, on a running local-prod:
/// its source runs unchanged, nothing half-made stays.
fn killed_at_each_step(env: &Env) {
    require_pg_image();
    let prod = shop(env);
    let before = docker(&["volume", "ls", "-q"]);
    // With --online too: killed before its stream, and once it has copied.
    for (step, online) in [
        ("data:volumes", false),
        ("data:paused", false),
        ("data:copied", false),
        ("data:online", true),
        ("data:copied", true),
    ] {
        let args: &[&str] = if online {
            &["snapshot", "save", "k", "--online"]
        } else {
            &["snapshot", "save", "k"]
        };
        let p = Paused::start(env, crate::harness::BIN, &prod, args, step, &[]);
        if step == "data:paused" {
            let s = docker(&[
                "inspect",
                "-f",
                "{{.State.Status}}",
                &container_of("shop-prod", "db"),
            ]);
            assert_eq!(s.trim(), "paused", "the copy pauses its source");
        }
        p.kill();
        // The watchdog unpauses and removes what the copy half made; nothing else.
        eventually(&format!("{step}: source unpaused"), || {
            docker(&[
                "ps",
                "-a",
                "--filter",
                "label=com.docker.compose.project=shop-prod",
                "--format",
                "{{.State}}",
            ])
            .lines()
            .all(|s| s == "running")
        });
        eventually(&format!("{step}: half-made snapshot removed"), || {
            snapshot_volumes().is_empty()
        });
        eventually(&format!("{step}: helper removed"), || {
            docker(&["ps", "-aq", "--filter", "label=dev.kinfra.helper"])
                .trim()
                .is_empty()
        });
        assert_eq!(docker(&["volume", "ls", "-q"]), before, "{step} {args:?}");
        assert_eq!(count("shop-prod"), 100, "{step} {args:?}");
    }
    // Ctrl-C while paused: undone the same way, exit 130.
    let mut p = Paused::start(
        env,
        crate::harness::BIN,
        &prod,
        &["snapshot", "save", "k"],
        "data:paused",
        &[],
    );
    // Resumed only once the interrupt is noted (no sleep stands in for that).
    p.interrupt();
    let (code, err) = p.resume();
    assert_eq!(code, 130, "{err}");
    assert!(snapshot_volumes().is_empty());
    assert!(all_running("shop-prod"), "shop-prod: every container runs");
    // A later save works.
    env.kinfra(&prod, &["snapshot", "save", "k"]).success();
    env.kinfra(&prod, &["snapshot", "rm", "k"]).success();
    env.kinfra(&prod, &["local-prod", "destroy", "--yes"])
        .success();
}

#[test]
fn bad_data_sources_are_refused_before_anything_changes() {
    let Some((env, _lane)) = data_env() else {
        return;
    };
    require_pg_image();
    let prod = project(&env, "shop", &[("compose.yaml", COMPOSE)]);
    env.kinfra(&prod, &["local-prod", "init"]).success();
    let wt = |n: &str| sandbox_dir(&prod, n).exists();

    // Never started: no volumes to copy (exit 2), nothing made.
    env.kinfra(&prod, &["snapshot", "save", "s"])
        .code(2)
        .stderr_has("no data volumes");
    env.kinfra(&prod, &["sandbox", "create", "x", "--data", "local-prod"])
        .code(2)
        .stderr_has("no data volumes");
    assert!(!wt("x"));
    // Unknown source; a name that is a path; a snapshot of another project.
    env.kinfra(&prod, &["sandbox", "create", "x", "--data", "nosuch"])
        .code(2)
        .stderr_has("neither local-prod, a snapshot");
    env.kinfra(&prod, &["sandbox", "create", "x", "--data", "../etc"])
        .code(2);
    env.kinfra(&prod, &["snapshot", "save", "../x"])
        .code(2)
        .stderr_has("not a snapshot name");
    env.kinfra(&prod, &["snapshot", "rm", "nosuch"])
        .code(4)
        .stderr_has("no snapshot");
    assert!(!wt("x"));
    env.kinfra(&prod, &["local-prod", "up", "--timeout", "90"])
        .success();
    psql(
        "shop-prod",
        "create table t(x int); insert into t values (1), (2), (3)",
    );
    env.kinfra(&prod, &["snapshot", "save", "s"]).success();
    env.kinfra(&prod, &["snapshot", "save", "s"])
        .code(1)
        .stderr_has("already exists");
    let other = project(&env, "other", &[("compose.yaml", COMPOSE)]);
    env.kinfra(&other, &["sandbox", "create", "y", "--data", "s"])
        .code(2)
        .stderr_has("belongs to project shop");
    assert!(!other.parent().expect("p").join("other--y").exists());
    // reset of a sandbox made without data names the flag.
    env.kinfra(&prod, &["sandbox", "create", "plain"]).success();
    env.kinfra(&prod, &["sandbox", "reset", "plain", "--yes"])
        .code(2)
        .stderr_has("--data");
    // up --data: a stopped sandbox takes the data first; running, it is refused;
    // holding data, it asks (here: wants --yes).
    let plain = sandbox_dir(&prod, "plain");
    env.kinfra(&plain, &["sandbox", "up", "--data", "s", "--timeout", "90"])
        .success()
        .stderr_has("from snapshot s");
    assert_eq!(count("shop--plain"), 3);
    env.kinfra(&plain, &["sandbox", "up", "--data", "s"])
        .code(2)
        .stderr_has("is running");
    env.kinfra(&plain, &["sandbox", "down"]).success();
    env.kinfra(&plain, &["sandbox", "up", "--data", "s"])
        .code(2)
        .stderr_has("--yes");
    env.kinfra(
        &plain,
        &["sandbox", "up", "--data", "s", "--yes", "--timeout", "90"],
    )
    .success();
    assert_eq!(count("shop--plain"), 3);
    env.kinfra(&prod, &["sandbox", "destroy", "plain"])
        .success();
    env.kinfra(&prod, &["snapshot", "rm", "s"]).success();
    env.kinfra(&prod, &["local-prod", "destroy", "--yes"])
        .success();
}

/// The copy-on-write engine (scripts/cow-engine.sh: Docker's data root on a
/// loop-mounted XFS with reflink). Required: a run without it fails, unless
/// KINFRA_TEST_SKIP_COW=1 says to skip on purpose.
fn cow_host() -> Option<String> {
    if let Ok(h) = std::env::var("KINFRA_TEST_COW_DOCKER_HOST")
        && !h.is_empty()
    {
        return Some(h);
    }
    if std::env::var("KINFRA_TEST_SKIP_COW").is_ok_and(|v| v == "1") {
        crate::harness::record_skip_because("KINFRA_TEST_SKIP_COW=1");
        return None;
    }
    if crate::harness::docker_skipped() {
        crate::harness::record_skip_because("KINFRA_SKIP_DOCKER=1");
        return None;
    }
    panic!(
        "the copy-on-write data test needs an engine on a reflink filesystem: \
         `eval \"$(scripts/cow-engine.sh start)\"` (root; scripts/test does it), or KINFRA_TEST_SKIP_COW=1"
    );
}

/// KiB used on the filesystem under `volume`.
fn used_kib(host: &str, volume: &str) -> u64 {
    let out = docker_on(
        host,
        &[
            "run",
            "--rm",
            "-v",
            &format!("{volume}:/d:ro"),
            "busybox:1.35",
            "df",
            "-k",
            "/d",
        ],
    );
    out.lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("df: {out}"))
}

/// Where a data test runs that needs no copy-on-write engine. Its project
/// publishes no host port and every name it makes is its own, so given an engine
/// of their own (`scripts/cow-engine.sh start plain`, which scripts/test starts:
/// KINFRA_TEST_DATA_DOCKER_HOST) these tests run there, one at a time and each
/// from a clean engine, beside the main engine's tests (which take turns for host
/// ports): five of the suite's longest tests leave its serial part. Without it,
/// on the main engine like any Docker test.
fn data_env() -> Option<(Env, Option<std::fs::File>)> {
    let lane = std::env::var("KINFRA_TEST_DATA_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty());
    match lane {
        Some(host) if !crate::harness::docker_skipped() => {
            let guard = crate::harness::machine_lock("data-engine");
            own_engine(&host);
            Some((Env::new(), Some(guard)))
        }
        _ => match Env::with_docker() {
            Some(env) => Some((env, None)),
            None => {
                crate::harness::record_skip();
                None
            }
        },
    }
}

/// Makes the engine at `host` this test's, from clean: what an earlier test or
/// failed run left there goes first (the engine is the tests' own).
fn own_engine(host: &str) {
    for c in docker_on(host, &["ps", "-aq"]).lines() {
        docker_on(host, &["rm", "-f", c]);
    }
    for v in docker_on(host, &["volume", "ls", "-q"]).lines() {
        docker_on(host, &["volume", "rm", v]);
    }
    docker_on(host, &["network", "prune", "-f"]);
    use_engine(host);
}

/// The copy-on-write engine is one for all its tests: one at a time (beside the
/// main engine's), each from a clean engine, every docker call and kinfra
/// command of the test on it.
fn cow_env() -> Option<(Env, std::fs::File)> {
    let host = cow_host()?;
    // Across processes (nextest runs each test in its own): each test wipes the
    // engine first, which would take another's volumes from under it.
    let guard = crate::harness::machine_lock("cow-engine");
    own_engine(&host);
    Some((Env::new(), guard))
}

#[test]
fn on_a_copy_on_write_filesystem_copies_share_their_blocks() {
    let Some((env, _cow)) = cow_env() else { return };
    let host = std::env::var("KINFRA_TEST_COW_DOCKER_HOST").expect("the engine");
    require_pg_image();
    let dh = [("DOCKER_HOST", host.as_str())];
    let prod = project(&env, "shop", &[("compose.yaml", COMPOSE)]);
    env.kinfra_env(&prod, &["local-prod", "init"], &dh)
        .success();
    env.kinfra_env(&prod, &["local-prod", "up", "--timeout", "90"], &dh)
        .success();
    let files = docker_on(
        &host,
        &[
            "ps",
            "-q",
            "--filter",
            "label=com.docker.compose.project=shop-prod",
            "--filter",
            "label=com.docker.compose.service=files",
        ],
    );
    docker_on(
        &host,
        &[
            "exec",
            files.trim(),
            "dd",
            "if=/dev/zero",
            "of=/data/big",
            "bs=1048576",
            "count=1024",
        ],
    );
    let before = used_kib(&host, "shop-prod_files");

    env.kinfra_env(&prod, &["snapshot", "save", "big"], &dh)
        .success()
        .stderr_has("copy-on-write (reflink)");
    env.kinfra_env(&prod, &["sandbox", "create", "a", "--data", "big"], &dh)
        .success()
        .stderr_has("copy-on-write (reflink)");
    env.kinfra_env(
        &prod,
        &["sandbox", "create", "b", "--data", "local-prod"],
        &dh,
    )
    .success()
    .stderr_has("copy-on-write (reflink)");
    // Three copies of 1 GiB took (almost) no space: the blocks are shared.
    let after = used_kib(&host, "shop-prod_files");
    assert!(
        after < before + 100 * 1024,
        "used {before} KiB before, {after} KiB after"
    );
    for v in [
        "kinfra-snap.shop.big.files",
        "shop--a_files",
        "shop--b_files",
    ] {
        let ls = docker_on(
            &host,
            &[
                "run",
                "--rm",
                "-v",
                &format!("{v}:/d:ro"),
                "busybox:1.35",
                "stat",
                "-c",
                "%s",
                "/d/big",
            ],
        );
        assert_eq!(ls.trim(), "1073741824", "{v}");
    }
    // Writing in a copy diverges it alone.
    docker_on(
        &host,
        &[
            "run",
            "--rm",
            "-v",
            "shop--a_files:/d",
            "busybox:1.35",
            "sh",
            "-c",
            "echo changed > /d/big",
        ],
    );
    let prod_big = docker_on(
        &host,
        &[
            "run",
            "--rm",
            "-v",
            "shop-prod_files:/d:ro",
            "busybox:1.35",
            "stat",
            "-c",
            "%s",
            "/d/big",
        ],
    );
    assert_eq!(prod_big.trim(), "1073741824");
    for n in ["a", "b"] {
        env.kinfra_env(&prod, &["sandbox", "destroy", n], &dh)
            .success();
    }
    env.kinfra_env(&prod, &["snapshot", "rm", "big"], &dh)
        .success();
    env.kinfra_env(&prod, &["local-prod", "destroy", "--yes"], &dh)
        .success();
}
