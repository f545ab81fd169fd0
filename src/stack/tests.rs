use super::*;
use crate::tools::git::origin_in_config;

#[test]
fn the_built_in_ktrdr_description_parses_and_is_what_m6_was() {
    let s = &*KTRDR;
    assert_eq!(s.name, "KTRDR");
    assert_eq!(s.compose_file, "docker-compose.sandbox.yml");
    assert_eq!(s.repo_marker.as_deref(), Some("ktrdr"));
    assert_eq!(s.worktree_prefix, "ktrdr--");
    assert_eq!(s.local_prod_id, "ktrdr-prod");
    assert_eq!(s.local_prod_profile.as_deref(), Some("local-prod"));
    assert_eq!(
        (s.sandbox_item.as_str(), s.local_prod_item.as_str()),
        ("ktrdr-sandbox-dev", "ktrdr-local-prod")
    );
    assert_eq!(s.max_slot, 10);
    assert_eq!(s.ports.len(), 15);
    assert_eq!(
        s.ports[7],
        PortRule {
            key: "KTRDR_WORKER_PORT_1".into(),
            slot0: 5003,
            sandbox: Some((5001, 10)),
            fixed: false,
        }
    );
    assert_eq!(s.ports[14].sandbox, None);
    assert_eq!(s.gate.len(), 4);
    assert_eq!(s.gate[2].requires.as_deref(), Some("backend"));
    assert_eq!(
        s.gate[2].check,
        Check::JsonLength {
            port_key: "KTRDR_API_PORT".into(),
            path: "/api/v1/workers".into(),
            pointer: "/workers".into(),
            min: 4
        }
    );
    assert_eq!(
        s.gate[3].check,
        Check::Http {
            port_key: "KTRDR_JAEGER_UI_PORT".into(),
            path: "/".into(),
            ok: vec![200, 302]
        }
    );
    assert_eq!(
        s.post_start.as_ref().unwrap().script,
        Script::Embedded("post-start/migrate.sh".into())
    );
    assert_eq!(s.secret_fields.iter().filter(|f| f.generated).count(), 3);
    assert_eq!(s.shared_subdirs, ["data", "models", "strategies"]);
    assert_eq!(s.env_prefix, "KTRDR");
    assert_eq!(s.shell_service.as_deref(), Some("backend"));
    assert_eq!(s.links.len(), 6);
}

#[test]
fn a_minimal_description_gets_defaults_from_its_name() {
    let s = Stack::parse(
        "name = \"Shop\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = 8080\nbase = 8080\n",
        "t",
    )
    .unwrap();
    assert_eq!(s.worktree_prefix, "shop--");
    assert_eq!(s.local_prod_id, "shop-prod");
    assert_eq!(s.local_prod_item, "shop-local-prod");
    assert_eq!(s.api_port_key, "WEB_PORT");
    assert_eq!(s.env_prefix, "SHOP");
    assert_eq!(s.ports[0].sandbox, Some((8080, 1)));
    assert_eq!(s.repo_marker, None);
    assert!(s.gate.is_empty() && s.post_start.is_none());
    assert_eq!(s.budget, Budget::default());
    let b = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[budget]\nmax_running = 3\nmemory = \"6G\"\n",
        "t",
    )
    .unwrap();
    assert_eq!(
        b.budget,
        Budget {
            max_running: Some(3),
            memory: Some(6 << 30)
        }
    );
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[budget]\nmemory = \"lots\"\n",
        "t",
    )
    .unwrap_err();
    assert!(e.to_string().contains("budget.memory"), "{e}");
}

#[test]
fn values_that_would_become_something_else_are_refused_naming_the_line() {
    let base = "name = \"x\"\ncompose_file = \"c.yml\"\n";
    let cases: &[(&str, &str)] = &[
        ("[[ports]]\nkey = \"A=B\"\nlocal_prod = 1\n", "line 4"),
        (
            "[[ports]]\nkey = \"X\\nSLOT_NUMBER=9\"\nlocal_prod = 1\n",
            "line 4",
        ),
        (
            "[[ports]]\nkey = \"$(touch x)\"\nlocal_prod = 1\n",
            "line 4",
        ),
        ("[[ports]]\nkey = \"\"\nlocal_prod = 1\n", "line 4"),
        (
            "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[ports]]\nkey = \"P\"\nlocal_prod = 2\n",
            "already taken by port key P",
        ),
        (
            "[[ports]]\nkey = \"DOCKER_HOST\"\nlocal_prod = 1\n",
            "steers",
        ),
        (
            "[[ports]]\nkey = \"SLOT_NUMBER\"\nlocal_prod = 1\n",
            "kinfra's own key",
        ),
        ("env_prefix = \"a b\"\n", "line 3"),
        ("env_prefix = \"DOCKER\"\n", "steers"),
        ("worktree_prefix = \"../../x-\"\n", "line 3"),
        ("worktree_prefix = \"/tmp/x-\"\n", "line 3"),
        ("shared_dirs = [\"../../etc\"]\n", "line 3"),
        ("shared_dirs = [\"/abs\"]\n", "line 3"),
        ("shared_dirs = [\"a-b\", \"a.b\"]\n", "already taken"),
        ("profiles = [\"\"]\n", "line 3"),
        ("profiles = [\"--all\"]\n", "line 3"),
        ("[local_prod]\nproject = \"Prod Name\"\n", "line 4"),
        ("[local_prod]\nprofile = \"-x\"\n", "line 4"),
        ("[sandbox]\nitem = \"--vault=x\"\n", "line 4"),
        (
            "[[secrets]]\nfield = \"f\"\nvar = \"LD_PRELOAD\"\n",
            "line 5",
        ),
        (
            "[[secrets]]\nfield = \"f\"\nvar = \"DOCKER_HOST\"\n",
            "steers",
        ),
        ("[[secrets]]\nfield = \"f\"\nvar = \"PATH\"\n", "steers"),
        (
            "[[secrets]]\nfield = \"f\"\nvar = \"COMPOSE_FILE\"\n",
            "steers",
        ),
        (
            "[[secrets]]\nfield = \"a\"\nvar = \"S\"\n[[secrets]]\nfield = \"b\"\nvar = \"S\"\n",
            "already taken",
        ),
        (
            "[[secrets]]\nfield = \"a\"\nvar = \"PORT_WEB_80\"\n",
            "PORT_",
        ),
        (
            "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"g\"\nservice = \"s\"\nhttp = { port = \"P\", path = \"@127.0.0.1:9999/x\" }\n",
            "line 9",
        ),
        (
            "[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"g\"\nservice = \"s\"\njson_length = { port = \"P\", path = \"/w\", pointer = \"workers\", min = 1 }\n",
            "JSON pointer",
        ),
    ];
    for (extra, says) in cases {
        let text = format!("{base}{extra}");
        let e = Stack::parse(&text, "kinfra.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("accepted: {text}"));
        assert!(
            e.contains("kinfra.toml") && e.contains(says),
            "{text}\n=> {e}"
        );
    }
}

#[test]
fn compose_file_in_dotenv_names_the_files_with_its_separator() {
    let d = tempfile::tempdir().unwrap();
    let top = d.path();
    std::fs::create_dir_all(top.join(".git")).unwrap();
    std::fs::write(top.join("base.yml"), "services: {}\n").unwrap();
    std::fs::write(top.join("more.yml"), "services: {}\n").unwrap();
    std::fs::write(
        top.join(".env"),
        "COMPOSE_FILE=base.yml;./more.yml\nCOMPOSE_PATH_SEPARATOR=;\n",
    )
    .unwrap();
    let s = infer(top, None).unwrap().unwrap();
    assert_eq!(s.compose_files, ["base.yml", "more.yml"]);
    std::fs::write(top.join(".env"), "COMPOSE_FILE=../outside.yml\n").unwrap();
    let e = infer(top, None).unwrap_err().to_string();
    assert!(
        e.contains("COMPOSE_FILE") && e.contains("inside the repository"),
        "{e}"
    );
    std::fs::write(top.join(".env"), "COMPOSE_FILE=missing.yml\n").unwrap();
    assert!(infer(top, None).is_err());
}

#[test]
fn an_inferred_project_is_named_after_its_origin() {
    let cfg = "[core]\n\tbare = false\n[remote \"upstream\"]\n\turl = https://x/other.git\n[remote \"origin\"]\n\turl = https://github.com/acme/Shop.git\n\tfetch = +refs/heads/*:refs/remotes/origin/*\n";
    assert_eq!(
        origin_in_config(cfg).as_deref(),
        Some("https://github.com/acme/Shop.git")
    );
    assert_eq!(origin_in_config("[core]\n"), None);
    assert_eq!(repo_name("https://github.com/acme/Shop.git"), "Shop");
    assert_eq!(repo_name("git@github.com:acme/shop.git/"), "shop");
    assert_eq!(repo_name("/srv/git/depot"), "depot");
}

#[test]
fn unknown_keys_and_bad_references_are_errors_naming_the_place() {
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\ncompose_filez = []\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("kinfra.toml") && e.contains("line 3") && e.contains("compose_filez"),
        "{e}"
    );
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[[gate]]\nname = \"web\"\nservice = \"web\"\ntcp = { port = \"NOPE\" }\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("NOPE") && e.contains("[[ports]]"), "{e}");
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"P\"\nlocal_prod = 1\n[[gate]]\nname = \"a\"\nservice = \"s\"\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("exactly one of tcp, http, json_length"), "{e}");
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[post_start]\nname = \"m\"\nservice = \"s\"\nscript = \"../outside.sh\"\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("inside the repository"), "{e}");
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"P\"\nlocal_prod = 1\nbase = 65000\nstep = 100\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("passes 65535"), "{e}");
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = \"c.yml\"\nport_scheme = \"magic\"\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("port_scheme \"magic\"") && e.contains("auto"),
        "{e}"
    );
    let e = Stack::parse(
        "name = \"x\"\ncompose_file = [\"c.yml\", \"../up.yml\"]\n",
        "kinfra.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("inside the repository"), "{e}");
}

#[test]
fn a_shared_service_may_not_take_an_instances_project() {
    let base = "name = \"x\"\ncompose_file = \"c.yml\"\n";
    for (project, says) in [
        ("x-prod", "local-prod's compose project"),
        ("x--a", "shaped like a sandbox's"),
    ] {
        let text = format!(
            "{base}[[shared]]\nname = \"obs\"\ncompose_file = \"o.yml\"\nproject = \"{project}\"\n"
        );
        let e = Stack::parse(&text, "kinfra.toml").unwrap_err().to_string();
        assert!(e.contains(says) && e.contains("obs"), "{project}: {e}");
    }
    let text = format!(
        "{base}[local_prod]\nproject = \"live\"\n[[shared]]\nname = \"obs\"\ncompose_file = \"o.yml\"\nproject = \"live\"\n"
    );
    assert!(Stack::parse(&text, "kinfra.toml").is_err());
    let ok = format!(
        "{base}[[shared]]\nname = \"obs\"\ncompose_file = \"o.yml\"\nproject = \"x-obs\"\n"
    );
    assert_eq!(
        Stack::parse(&ok, "kinfra.toml").unwrap().shared[0].project,
        "x-obs"
    );
}

#[test]
fn literal_variables_that_steer_an_interpreter_are_refused_naming_key_and_line() {
    let base = "name = \"x\"\ncompose_file = \"c.yml\"\n";
    for table in ["[env]", "[sandbox.env]", "[local_prod.env]"] {
        for key in [
            "GCONV_PATH",
            "NODE_PATH",
            "NODE_OPTIONS",
            "PERL5LIB",
            "PERL5OPT",
            "PYTHONPATH",
            "PYTHONSTARTUP",
            "RUBYLIB",
            "RUBYOPT",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "DYLD_INSERT_LIBRARIES",
            "BASH_ENV",
            "ENV",
            "GLIBC_TUNABLES",
        ] {
            let text = format!("{base}{table}\nOK = \"1\"\n{key} = \"/tmp/x\"\n");
            let e = Stack::parse(&text, "kinfra.toml")
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| panic!("accepted: {text}"));
            assert!(
                e.contains("kinfra.toml")
                    && e.contains(key)
                    && e.contains("line 5")
                    && e.contains("steers"),
                "{table} {key}: {e}"
            );
        }
        let fine = format!("{base}{table}\nNODE_ENV = \"production\"\nKTRDR_ENV = \"dev\"\n");
        assert!(Stack::parse(&fine, "kinfra.toml").is_ok(), "{fine}");
    }
}

#[test]
fn the_router_table_reads_auto_start_and_idle_stop_and_refuses_bad_values_naming_the_line() {
    let base = "name = \"x\"\ncompose_file = \"c.yml\"\n";
    let s = Stack::parse(base, "kinfra.toml").unwrap();
    assert_eq!(s.router, RouterSettings::default());
    assert!(s.router.auto_start && s.router.idle_stop.is_none());
    let s = Stack::parse(
        &format!("{base}[router]\nauto_start = false\nidle_stop = \"30m\"\n"),
        "kinfra.toml",
    )
    .unwrap();
    assert!(!s.router.auto_start);
    assert_eq!(
        s.router.idle_stop,
        Some(IdleStop::After(std::time::Duration::from_secs(1800)))
    );
    let off = Stack::parse(&format!("{base}[router]\nidle_stop = \"off\"\n"), "k").unwrap();
    assert_eq!(off.router.idle_stop, Some(IdleStop::Off));
    let year = Stack::parse(&format!("{base}[router]\nidle_stop = \"365d\"\n"), "k").unwrap();
    assert_eq!(
        year.router.idle_stop.and_then(IdleStop::after),
        Some(MAX_IDLE_STOP)
    );
    // The router's settings are no part of what an instance is made of.
    assert_eq!(
        s.fingerprint(),
        Stack::parse(base, "kinfra.toml").unwrap().fingerprint()
    );
    for (extra, says) in [
        ("idle_stop = \"0\"", "is not a duration"),
        ("idle_stop = \"0m\"", "is not a duration"),
        ("idle_stop = \"\"", "is not a duration"),
        ("idle_stop = \"-5m\"", "is not a duration"),
        ("idle_stop = \"1.5h\"", "is not a duration"),
        ("idle_stop = \"30 minutes\"", "is not a duration"),
        ("idle_stop = \"99999999999999999999d\"", "is not a duration"),
        ("idle_stop = \"366d\"", "over a year"),
        ("idle_stop = \"9999999h\"", "over a year"),
        ("idle_stop = 30", "invalid type"),
        ("idle_stop = true", "invalid type"),
        ("idle_stop = [\"30m\"]", "invalid type"),
        ("auto_start = \"off\"", "invalid type"),
        ("auto_start = 0", "invalid type"),
        ("autostart = false", "unknown field"),
    ] {
        let text = format!("{base}[router]\n{extra}\n");
        let e = Stack::parse(&text, "kinfra.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| panic!("accepted: {text}"));
        assert!(
            e.contains("kinfra.toml") && e.contains("line 4") && e.contains(says),
            "{extra}: {e}"
        );
    }
    // A table where a value belongs, and a value where the table belongs.
    for text in [
        format!("{base}router = \"off\"\n"),
        format!("{base}[router.idle_stop]\nafter = \"30m\"\n"),
    ] {
        let e = Stack::parse(&text, "kinfra.toml").unwrap_err().to_string();
        assert!(e.contains("line 3") || e.contains("line 4"), "{text}: {e}");
    }
}

/// A repository's `kinfra.toml` is read by commands run from elsewhere (`sandbox
/// status NAME`, the router): a link out of the checkout is refused before its
/// target is opened (a parse error would quote another file's secret), a link to
/// `/dev/zero` or a FIFO is never read (memory without bound, a block for good),
/// a file past the bound is refused; a link inside the checkout is read.
#[test]
fn a_description_is_read_only_from_a_bounded_file_inside_the_checkout() {
    let d = tempfile::tempdir().unwrap();
    let repo = d.path().join("repo");
    std::fs::create_dir(&repo).unwrap();
    let secret = d.path().join("credentials");
    std::fs::write(&secret, "AWS_SECRET=hunter2-topsecret\n").unwrap();
    let toml = repo.join(FILE_NAME);
    let refused = |why: &str| {
        let e = Stack::from_dir(&repo).expect_err(why);
        assert!(
            matches!(e, StackError::DescriptionRefused { .. }),
            "{why}: {e:?}"
        );
        assert!(!e.to_string().contains("hunter2"), "{why}: {e}");
        e.to_string()
    };

    std::os::unix::fs::symlink(&secret, &toml).unwrap();
    let e = refused("a link out of the checkout");
    assert!(e.contains("outside"), "{e}");

    std::fs::remove_file(&toml).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &toml).unwrap();
    refused("a link to /dev/zero");

    std::fs::remove_file(&toml).unwrap();
    nix::unistd::mkfifo(&toml, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let e = refused("a FIFO");
    assert!(e.contains("not a regular file"), "{e}");

    std::fs::remove_file(&toml).unwrap();
    let big = format!(
        "name = \"x\"\ncompose_file = \"c.yml\"\n{}",
        "#\n".repeat(MAX_DESCRIPTION as usize)
    );
    std::fs::write(&toml, big).unwrap();
    let e = refused("past the bound");
    assert!(e.contains("larger than"), "{e}");

    // A link inside the checkout is the repository's own file: read.
    std::fs::remove_file(&toml).unwrap();
    std::fs::write(
        repo.join("real.toml"),
        "name = \"x\"\ncompose_file = \"c.yml\"\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("real.toml", &toml).unwrap();
    let s = Stack::from_dir(&repo).unwrap().expect("a description");
    assert_eq!(s.name, "x");
    std::fs::remove_file(&toml).unwrap();
    assert!(Stack::from_dir(&repo).unwrap().is_none(), "none there");
}
