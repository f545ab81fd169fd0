//! Untrusted input: secret references in a repository's `kinfra.toml` (and
//! devops-ai's `infra.toml`). A reference is data, never a command or a path out of
//! the main clone: `${NAME}` and `akv://` are refused by name, a dotenv PATH that
//! climbs out (`..`, an absolute path, a symbolic link leading outside) is refused
//! naming it, a NUL byte (written or resolved) is refused naming the key. Nothing
//! starts, nothing is kept, no value is printed.

use crate::Tally;
use crate::harness::{Env, project};

const COMPOSE: &str = "services:\n  app:\n    image: busybox:1.35\n    command: [\"sh\", \"-c\", \"exec sleep 3600\"]\n    environment: [K]\n    stop_grace_period: 1s\n";

pub fn run(t: &mut Tally) {
    t.case("untrusted input", "trust secrets: hostile references are refused when the description is read, naming the key", || {
        let env = Env::new();
        let cases: &[(&str, &str, &str)] = &[
            ("kinfra.toml", "${HOME}", "${HOME}"),
            ("kinfra.toml", "akv://vault/secret", "akv://"),
            ("kinfra.toml", "dotenv://../outside.env#K", "inside the main clone"),
            ("kinfra.toml", "dotenv:///etc/passwd#K", "inside the main clone"),
            ("kinfra.toml", "a\\u0000b", "NUL"),
            ("kinfra.toml", "bao://secret/../sys/seal#k", "OpenBao"),
            ("kinfra.toml", "op://v/-i/f", "1Password"),
            (".devops-ai/infra.toml", "akv://vault/secret", "akv://"),
            (".devops-ai/infra.toml", "${HOME}", "${HOME}"),
        ];
        for (i, (file, value, says)) in cases.iter().enumerate() {
            let name = format!("tsec{i}");
            let text = if file.starts_with(".devops-ai") {
                format!("[project]\nname = \"tsec\"\n[sandbox]\ncompose_file = \"compose.yaml\"\n[sandbox.secrets]\nK = \"{value}\"\n")
            } else {
                format!("name = \"tsec\"\ncompose_file = \"compose.yaml\"\n[sandbox.secrets]\nK = \"{value}\"\n")
            };
            let repo = project(&env, &name, &[("compose.yaml", COMPOSE), (file, &text)]);
            let before = crate::harness::snapshot(&env.work);
            let r = env.kinfra(&repo, &["sandbox", "create", "a"]);
            r.code(2).stderr_has(says).stderr_has("K").no_panic();
            crate::assert_intact(&name, &before, &env.work);
            assert!(!env.registry_path().exists(), "nothing registered\n{r}");
        }
        format!("{} references (${{HOME}}, akv://, dotenv climbing out or absolute, NUL, bao climbing out, op option-like, and in infra.toml) refused by create with exit 2, naming the key; nothing made", cases.len())
    });

    t.case("untrusted input", "trust secrets: a local-prod project named like a sandbox never shares its id, records or kept secrets", || {
        let env = Env::new();
        // `[local_prod] project = "tsecid--a"`: the id of the sandbox `a`.
        let toml = "name = \"tsecid\"\ncompose_file = \"compose.yaml\"\n[local_prod]\nproject = \"tsecid--a\"\n[sandbox.secrets]\nK = \"env://TSEC_ID_SRC\"\n";
        let repo = project(&env, "tsecid", &[("compose.yaml", COMPOSE), ("kinfra.toml", toml)]);
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let kept = env.kinfra_home.join("sandbox/secrets/tsecid--a.json");
        std::fs::create_dir_all(kept.parent().expect("dir")).expect("mkdir");
        std::fs::write(&kept, "{\"instance\":\"tsecid--a\",\"entries\":{}}").expect("write");
        let registry = std::fs::read(env.registry_path()).expect("registry");
        let r = env.kinfra(&repo, &["local-prod", "init"]);
        r.code(1).stderr_has("tsecid--a is already registered").no_panic();
        assert_eq!(std::fs::read(env.registry_path()).expect("registry"), registry, "registry changed\n{r}");
        assert!(kept.exists(), "the sandbox's kept values were touched\n{r}");
        // The other way round: local-prod first, then a sandbox of the same id.
        let env2 = Env::new();
        let repo2 = project(&env2, "tsecid", &[("compose.yaml", COMPOSE), ("kinfra.toml", toml)]);
        env2.kinfra(&repo2, &["local-prod", "init"]).success();
        let r = env2.kinfra(&repo2, &["sandbox", "create", "a"]);
        r.code(1).stderr_has("tsecid--a is already registered").no_panic();
        assert!(!env2.work.join("tsecid--a").exists(), "a worktree was made\n{r}");
        "local-prod init refused (exit 1, naming the id) when a sandbox holds the id its project gives, and sandbox create refused when local-prod holds it; the registry, the sandbox's kept values and the work directory unchanged".into()
    });

    t.docker_case("untrusted input", "trust secrets: a dotenv link out of the main clone and a NUL from 1Password stop up before anything starts", || {
        let env = Env::with_docker().expect("docker");
        // A file outside the clone holding a value no output may show.
        let outside = env.base().join("outside.env");
        std::fs::write(&outside, "K=stolen-M4RKS\n").expect("write");
        let toml = "name = \"tsecl\"\ncompose_file = \"compose.yaml\"\n[sandbox.secrets]\nK = \"dotenv://conf/link.env#K\"\n";
        let repo = project(&env, "tsecl", &[("compose.yaml", COMPOSE), ("kinfra.toml", toml)]);
        std::fs::create_dir_all(repo.join("conf")).expect("mkdir");
        std::os::unix::fs::symlink(&outside, repo.join("conf/link.env")).expect("link");
        env.kinfra(&repo, &["sandbox", "create", "a"]).success();
        let wt = env.work.join("tsecl--a");
        let r = env.kinfra(&wt, &["sandbox", "up", "--no-wait"]);
        r.code(7).stderr_has("K (dotenv://conf/link.env#K)").stderr_has("outside").no_panic();
        assert!(!r.stdout.contains("M4RKS") && !r.stderr.contains("M4RKS"), "{r}");
        assert!(crate::harness::running_services("tsecl--a").is_empty(), "started\n{r}");
        let kept = env.kinfra_home.join("sandbox/secrets/tsecl--a.json");
        assert!(!kept.exists(), "a value was kept\n{r}");

        // 1Password answers a field holding a NUL: refused naming the variable.
        env.op_sign_in();
        env.op_item_in("v", "item", &[("f", "nul\u{0}-M4RKN")]);
        // The worktree's own (tracked) description.
        std::fs::write(
            wt.join("kinfra.toml"),
            "name = \"tsecl\"\ncompose_file = \"compose.yaml\"\n[sandbox.secrets]\nK = \"op://v/item/f\"\n",
        )
        .expect("write");
        let r = env.kinfra(&wt, &["sandbox", "up", "--no-wait"]);
        r.code(7).stderr_has("K (op://v/item/f)").stderr_has("NUL").no_panic();
        assert!(!r.stdout.contains("M4RKN") && !r.stderr.contains("M4RKN"), "{r}");
        assert!(crate::harness::running_services("tsecl--a").is_empty(), "started\n{r}");
        assert!(!kept.exists(), "a value was kept\n{r}");
        env.kinfra(&repo, &["sandbox", "destroy", "a", "--force"]).success();
        "a dotenv reference through a link to a file outside the main clone, and a 1Password field holding a NUL: up exits 7 naming the reference and why, starts nothing, keeps nothing, prints no value".into()
    });
}
