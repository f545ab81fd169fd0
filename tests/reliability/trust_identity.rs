//! Trust by construction, identity: what a command acts on is its instance's
//! registry entry, never a file in the worktree or an argument. A compose option
//! naming another project, a `.env.sandbox` naming another instance or another slot,
//! and a local-prod command run from elsewhere each once reached local-prod's (or a
//! sandbox's) containers and volumes; each case marks the data at stake and checks
//! the refusal, the message, and that nothing changed.

use std::path::{Path, PathBuf};

use crate::Tally;
use crate::harness::{Env, assert_marked, docker, mark_volumes, project, snapshot};

/// A project with a named volume (what `down -v` would remove).
const VOL_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "18790:80"
    volumes:
      - data:/data
    stop_grace_period: 1s
volumes:
  data:
"#;

/// What the registry holds: local-prod's id and path, and the sandboxes' ids and
/// paths.
fn registered(env: &Env) -> (String, Vec<(String, PathBuf)>) {
    let reg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(env.registry_path()).expect("registry"))
            .expect("registry json");
    let lp = reg["local_prod"]["instance_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sandboxes = reg["instances"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|e| {
                    (
                        e["instance_id"].as_str().unwrap_or_default().to_string(),
                        PathBuf::from(e["path"].as_str().unwrap_or_default()),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (lp, sandboxes)
}

/// Makes `<project>_data` as compose would (labelled with its project) and marks it.
fn marked_volume(project: &str) -> Vec<String> {
    docker(&[
        "volume",
        "create",
        "--label",
        &format!("com.docker.compose.project={project}"),
        "--label",
        "com.docker.compose.volume=data",
        &format!("{project}_data"),
    ]);
    mark_volumes(project)
}

fn remove_volumes(vols: &[String]) {
    for v in vols {
        let _ = std::process::Command::new("docker")
            .args(["volume", "rm", "-f", v])
            .output();
    }
}

/// local-prod (registered, never started) and one sandbox `a` of `name`, each with a
/// marked data volume: (local-prod's clone, its id, the sandbox's worktree, its id,
/// the volumes).
struct Pair {
    prod: PathBuf,
    prod_id: String,
    wt: PathBuf,
    sb_id: String,
    vols: Vec<String>,
}

fn pair(env: &Env, name: &str) -> Pair {
    let prod = project(env, name, &[("compose.yaml", VOL_COMPOSE)]);
    env.kinfra(&prod, &["local-prod", "init"]).success();
    env.kinfra(&prod, &["sandbox", "create", "a"]).success();
    let (prod_id, sandboxes) = registered(env);
    let (sb_id, wt) = sandboxes
        .into_iter()
        .next()
        .expect("the sandbox is registered");
    assert!(!prod_id.is_empty(), "local-prod is registered");
    let mut vols = marked_volume(&prod_id);
    vols.extend(marked_volume(&sb_id));
    Pair {
        prod,
        prod_id,
        wt,
        sb_id,
        vols,
    }
}

fn wrap_up(env: &Env, p: &Pair) {
    let _ = env.kinfra(&p.prod, &["sandbox", "destroy", "a", "--force"]);
    let _ = env.kinfra(&p.prod, &["local-prod", "destroy", "--yes"]);
    remove_volumes(&p.vols);
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

pub fn run(t: &mut Tally) {
    t.docker_case("untrusted input", "identity: compose options naming another instance are refused", || {
        let env = Env::with_docker().expect("docker");
        let p = pair(&env, "idpass");
        let (prod, wt) = (&p.prod, &p.wt);
        let before = (snapshot(prod), snapshot(wt));
        let prod_file = prod.join("compose.yaml");
        let prod_file = prod_file.to_str().expect("utf8");
        let prod_env = prod.join(".env.sandbox");
        let prod_env = prod_env.to_str().expect("utf8");
        let prod_dir = prod.to_str().expect("utf8");
        let pid = p.prod_id.as_str();
        let sid = p.sb_id.as_str();
        let pname = format!("--project-name={pid}");
        let pshort = format!("-p{pid}");
        let sname = format!("--project-name={sid}");
        // `run`'s mounts: local-prod's volume by its name, in a one-off container
        // of the sandbox (found by an attack: it emptied local-prod's data).
        let prod_vol = format!("{pid}_data:/d");
        let prod_vol_eq = format!("--volume={prod_vol}");
        let prod_vol_short = format!("-v{prod_vol}");
        let wipe = ["web", "sh", "-c", "rm -rf /d/*"];
        let mut n = 0;
        // From the sandbox, at local-prod; from local-prod, at the sandbox.
        let attempts: Vec<(&Path, &str, Vec<&str>, &str)> = vec![
            (wt, "sandbox", vec!["-p", pid, "down", "-v"], "-p"),
            (wt, "sandbox", vec![&pname, "down", "-v"], &pname),
            (wt, "sandbox", vec![&pshort, "down", "-v"], &pshort),
            (wt, "sandbox", vec!["--project-name", pid, "down", "-v"], "--project-name"),
            (wt, "sandbox", vec!["-f", prod_file, "down", "-v"], "-f"),
            (wt, "sandbox", vec!["--file", prod_file, "down", "-v"], "--file"),
            (wt, "sandbox", vec!["--env-file", prod_env, "down", "-v"], "--env-file"),
            (wt, "sandbox", vec!["--project-directory", prod_dir, "down", "-v"], "--project-directory"),
            (wt, "sandbox", vec!["-H", "unix:///var/run/docker.sock", "down", "-v"], "-H"),
            (wt, "sandbox", vec!["--context=default", "down", "-v"], "--context=default"),
            (wt, "sandbox", vec!["--ansi", "never", "-p", pid, "down", "-v"], "-p"),
            (prod, "local-prod", vec!["-p", sid, "down", "-v"], "-p"),
            (prod, "local-prod", vec![&sname, "down", "-v"], &sname),
            (wt, "sandbox", [&["run", "--rm", "-v", &prod_vol][..], &wipe].concat(), "-v"),
            (wt, "sandbox", [&["run", "--rm", &prod_vol_eq][..], &wipe].concat(), &prod_vol_eq),
            (wt, "sandbox", [&["run", "-T", &prod_vol_short][..], &wipe].concat(), &prod_vol_short),
            (wt, "sandbox", [&["run", "--rm", "-Tv", &prod_vol][..], &wipe].concat(), "-Tv"),
        ];
        for (cwd, kind, args, refused) in &attempts {
            let mut full = vec![*kind, "compose", "--no-secrets", "--"];
            full.extend(args.iter().copied());
            let r = env.kinfra(cwd, &full);
            r.code(2)
                .stderr_has(&format!("refused `{refused}`"))
                .stderr_has("nothing was run")
                .stderr_has("hint:")
                .no_panic();
            assert_marked(&p.vols, &format!("after `kinfra {}`", full.join(" ")));
            n += 1;
        }
        // The instance's own compose still runs.
        env.kinfra(wt, &["sandbox", "compose", "--no-secrets", "--", "config", "--services"])
            .success()
            .stdout_has("web");
        crate::assert_intact("local-prod's clone", &before.0, prod);
        crate::assert_intact("the sandbox", &before.1, wt);
        wrap_up(&env, &p);
        format!("{n} compose invocations (-p/--project-name/-pX/=X, -f/--file, --env-file, --project-directory, -H, --context, after an allowed option; `run -v`/`--volume` naming local-prod's volume) from a sandbox at local-prod and back: exit 2 naming the option, both projects' marked volumes intact, files unchanged")
    });

    t.docker_case("untrusted input", "identity: a .env.sandbox naming another instance is corrupt state", || {
        let env = Env::with_docker().expect("docker");
        let p = pair(&env, "idfile");
        let file = p.wt.join(".env.sandbox");
        let original = std::fs::read_to_string(&file).expect("read");
        let mut n = 0;
        for (what, forged) in [
            (
                "INSTANCE_ID and COMPOSE_PROJECT_NAME",
                original
                    .replace(&format!("INSTANCE_ID={}", p.sb_id), &format!("INSTANCE_ID={}", p.prod_id))
                    .replace(&format!("COMPOSE_PROJECT_NAME={}", p.sb_id), &format!("COMPOSE_PROJECT_NAME={}", p.prod_id)),
            ),
            (
                "COMPOSE_PROJECT_NAME",
                original.replace(&format!("COMPOSE_PROJECT_NAME={}", p.sb_id), &format!("COMPOSE_PROJECT_NAME={}", p.prod_id)),
            ),
        ] {
            assert_ne!(forged, original, "{what}: the file was forged");
            write(&file, &forged);
            for args in [
                vec!["sandbox", "sync"],
                vec!["sandbox", "compose", "--no-secrets", "--", "down", "-v"],
                vec!["sandbox", "down", "--volumes"],
                vec!["sandbox", "up", "--no-secrets"],
                vec!["sandbox", "status"],
            ] {
                let r = env.kinfra(&p.wt, &args);
                r.code(6)
                    .stderr_has("disagrees with the registry")
                    .stderr_has(&format!("{:?}", p.prod_id))
                    .stderr_has(&format!("{:?}", p.sb_id))
                    .stderr_has("hint:")
                    .no_panic();
                assert!(!r.stderr.contains("synced") && !r.stdout.contains("follows"), "{what}: {}\n{r}", args.join(" "));
                assert_eq!(std::fs::read_to_string(&file).expect("read"), forged, "{what}: `{}` changed the file", args.join(" "));
                assert_marked(&p.vols, &format!("{what}: after `kinfra {}`", args.join(" ")));
                n += 1;
            }
        }
        // Put back, everything works again; destroy acts on the registered sandbox only.
        write(&file, &original);
        env.kinfra(&p.wt, &["sandbox", "sync"]).success();
        write(&file, &original.replace(&format!("INSTANCE_ID={}", p.sb_id), &format!("INSTANCE_ID={}", p.prod_id)));
        env.kinfra(&p.prod, &["sandbox", "destroy", "a", "--force"]).success();
        assert_marked(&p.vols[..1], &"local-prod's volume after the forged sandbox's destroy");
        wrap_up(&env, &p);
        format!("{n} commands (sync, compose down -v, down --volumes, up, status) in a sandbox whose .env.sandbox names local-prod: exit 6 with both names and a hint, the file byte for byte as forged, local-prod's marked volume intact; destroy still removes only the registered sandbox")
    });

    t.docker_case("untrusted input", "identity: a slot written by hand into local-prod's .env.sandbox", || {
        let env = Env::with_docker().expect("docker");
        let p = pair(&env, "idslot");
        let file = p.prod.join(".env.sandbox");
        let original = std::fs::read_to_string(&file).expect("read");
        let forged = original.replace("SLOT_NUMBER=0", "SLOT_NUMBER=3");
        assert_ne!(forged, original);
        write(&file, &forged);
        let mut n = 0;
        for (cwd, args) in [
            (&p.prod, vec!["local-prod", "sync"]),
            (&p.prod, vec!["local-prod", "status"]),
            (&p.prod, vec!["local-prod", "down"]),
            (&p.wt, vec!["local-prod", "sync"]),
            (&p.prod, vec!["sandbox", "sync"]),
        ] {
            let r = env.kinfra(cwd, &args);
            r.code(6)
                .stderr_has("SLOT_NUMBER is \"3\"")
                .stderr_has("\"0\"")
                .stderr_has("SLOT_NUMBER=0")
                .no_panic();
            assert!(!r.stderr.contains("nothing to change"), "{}\n{r}", args.join(" "));
            assert_eq!(std::fs::read_to_string(&file).expect("read"), forged, "`{}` changed the file", args.join(" "));
            n += 1;
        }
        assert_marked(&p.vols, &"after the commands");
        write(&file, &original);
        env.kinfra(&p.prod, &["local-prod", "sync"]).success();
        wrap_up(&env, &p);
        format!("{n} commands on a local-prod whose .env.sandbox says SLOT_NUMBER=3: exit 6, the file's 3 and the registry's 0 shown with the fix, file unchanged, never \"nothing to change\"")
    });

    t.docker_case("untrusted input", "identity: local-prod commands from outside any repository use its own description", || {
        let env = Env::with_docker().expect("docker");
        let toml = "name = \"Idshop\"\ncompose_file = \"compose.yaml\"\n[env]\nIDSHOP_MODE = \"own\"\n";
        let prod = project(&env, "idshop", &[("compose.yaml", VOL_COMPOSE), ("kinfra.toml", toml)]);
        env.kinfra(&prod, &["local-prod", "init"]).success();
        let (prod_id, _) = registered(&env);
        let vols = marked_volume(&prod_id);
        let file = prod.join(".env.sandbox");
        let before = std::fs::read(&file).expect("read");
        assert!(String::from_utf8_lossy(&before).contains("IDSHOP_MODE=own"), "the own description's variable is in the file");
        let outside = env.base().join("elsewhere");
        std::fs::create_dir_all(&outside).expect("mkdir");
        let mut n = 0;
        for cwd in [&outside, &env.work] {
            let r = env.kinfra(cwd, &["local-prod", "sync"]);
            r.success().stderr_has("kinfra.toml").stderr_has("nothing to change").no_panic();
            assert_eq!(std::fs::read(&file).expect("read"), before, "sync from {} rewrote local-prod's file\n{r}", cwd.display());
            let h = env.kinfra(cwd, &["local-prod", "host", "status"]);
            h.success().no_panic();
            assert!(h.stdout.contains("kinfra.toml") && !h.stdout.contains("training"), "host status from {} used another description\n{h}", cwd.display());
            n += 2;
        }
        assert_marked(&vols, &"after the commands");
        env.kinfra(&outside, &["local-prod", "destroy", "--yes"]).success();
        remove_volumes(&vols);
        format!("{n} local-prod commands (sync, host status) from a directory outside any repository and from a parent of the clone: the clone's kinfra.toml applied, .env.sandbox byte for byte unchanged")
    });
}
