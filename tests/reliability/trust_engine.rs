//! Untrusted input on issue 33's engine-wide surfaces: `[isolate] host_paths` in a
//! repository's `kinfra.toml` (a path kinfra gives each sandbox its own directory
//! for) never names the root, a home, kinfra's own home, the repository, a symlink
//! or a `..` way out; and a compose file's Traefik constraint can never widen the
//! limit kinfra adds to another instance's containers.

use crate::Tally;
use crate::harness::{Env, container_of, docker, project, snapshot};

const WEB_COMPOSE: &str = r#"services:
  web:
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "80"]
    ports:
      - "18781:80"
    stop_grace_period: 1s
"#;

pub fn run(t: &mut Tally) {
    t.case("untrusted input", "isolate.host_paths entries that are not a sandbox's to own", || {
        let env = Env::new();
        let link = env.base().join("hp-link");
        std::os::unix::fs::symlink("/etc", &link).expect("symlink");
        let kh = env.kinfra_home.display().to_string();
        let cases: Vec<(String, &str)> = vec![
            ("\"/\"".into(), "names the root or the home directory itself"),
            ("\"~\"".into(), "must be an absolute path"),
            ("\"~/\"".into(), "names the root or the home directory itself"),
            ("\"/srv/../etc\"".into(), "`..` component"),
            ("\"~/../../etc\"".into(), "`..` component"),
            ("\"srv/data\"".into(), "must be an absolute path"),
            ("\"/srv/a\\nb\"".into(), "control character"),
            ("\"/srv/a\\u0000b\"".into(), "control character"),
            ("\"/srv/a:/etc\"".into(), "separator of a mount"),
            (format!("{:?}", format!("{kh}/sandbox")), "overlaps kinfra's home"),
            (format!("{:?}", env.base().display().to_string()), "overlaps kinfra's home"),
            (format!("{:?}", format!("{}/x", link.display())), "is a symlink"),
            (format!("{:?}", env.home.display().to_string()), "home directory"),
        ];
        let mut n = 0;
        for (i, (entry, says)) in cases.iter().enumerate() {
            let name = format!("hpaths{i}");
            let text = format!(
                "name = \"Shop\"\ncompose_file = \"compose.yaml\"\n[isolate]\nhost_paths = [{entry}]\n"
            );
            let repo = project(&env, &name, &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", &text)]);
            let before = snapshot(&env.base());
            for args in [vec!["sandbox", "create", "a"], vec!["sandbox", "init"], vec!["local-prod", "init"], vec!["stack", "check"]] {
                let r = env.kinfra(&repo, &args);
                r.code(2)
                    .stderr_has("kinfra.toml")
                    .stderr_has("isolate.host_paths entry")
                    .stderr_has(says)
                    .no_panic();
                n += 1;
            }
            crate::assert_intact(&name, &before, &env.base());
            assert!(!env.registry_path().exists(), "nothing registered");
            assert!(!env.kinfra_home.join("sandbox").exists(), "no copy, no directory made");
        }
        // The same key with a path it may own is accepted: the refusals are the
        // entries', not the key's.
        let good = env.base().join("hp-data");
        let text = format!(
            "name = \"Shop\"\ncompose_file = \"compose.yaml\"\n[isolate]\nhost_paths = [{:?}]\n",
            good.display().to_string()
        );
        let repo = project(&env, "hpgood", &[("compose.yaml", WEB_COMPOSE), ("kinfra.toml", &text)]);
        env.kinfra(&repo, &["stack", "check"]).no_panic();
        assert!(std::fs::read_link(&link).is_ok_and(|t| t == std::path::Path::new("/etc")));
        format!("{n} commands on host_paths entries that are the root, ~, .., relative, newline, NUL, a mount separator, inside or holding kinfra's home, through a symlink, the home directory: exit 2 naming the file, the entry and the reason; nothing created")
    });

    t.docker_case("untrusted input", "a compose file's Traefik constraint cannot widen kinfra's limit", || {
        let env = Env::new();
        // Closes the group to add an alternative, and names another instance.
        let compose = r#"services:
  proxy:
    image: busybox:1.35
    command: ["sh", "-c", "exec sleep 3600", "--providers.docker=true", "--providers.docker.constraints=Label(`com.docker.compose.project`,`forged--b`)) || (Label(`x`,`y`)"]
    ports: ["18782:80"]
    stop_grace_period: 1s
"#;
        let repo = project(&env, "forged", &[("compose.yaml", compose)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success().no_panic();
        let wt = env.work.join("forged--a");
        env.kinfra(&wt, &["sandbox", "up", "--no-secrets"]).success();
        let args = docker(&["inspect", "-f", "{{json .Args}}", &container_of("forged--a", "proxy")]);
        let flags: Vec<&str> = args
            .split('"')
            .filter(|a| a.starts_with("--providers.docker.constraints"))
            .collect();
        assert_eq!(
            flags,
            ["--providers.docker.constraints=Label(`com.docker.compose.project`,`forged--a`)"],
            "the unbalanced expression is dropped, the own label is the whole limit: {args}"
        );
        assert_eq!(
            std::fs::read_to_string(repo.join("compose.yaml")).expect("test io"),
            compose,
            "the compose file is never edited"
        );
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        "a constraint that closes its group with `) || (` and names another instance: the running proxy's only constraint is its own project's label".into()
    });
}
