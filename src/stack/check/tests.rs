use super::*;

const COMPOSE: &str = r#"# a comment
services:
  web:
    image: busybox
    container_name: shop-web
    ports:
      - "${WEB_PORT:-8080}:80"
      - "127.0.0.1:9000:9000"
    environment:
      TOKEN: ${TOKEN}
      MODE: ${MODE:-dev}
    healthcheck:
      test: ["CMD", "true"]
  worker:
    image: busybox
    ports: ["${WORKER_PORT}:5000"]
    networks: [shared]
volumes:
  data:
  cache:
    external: true
networks:
  shared:
    external: true
"#;

#[test]
fn urls_to_the_projects_own_ports_and_host_networks_are_named() {
    let text = "services:\n  web:\n    image: x\n    ports:\n      - \"3000:3000\"\n    environment:\n      NEXTAUTH_URL: http://localhost:3000/auth\n      OTHER: http://localhost:9999\n  worker:\n    image: x\n    network_mode: host\n    environment:\n      - API=http://127.0.0.1:3000\n";
    let facts = read(text);
    assert_eq!(facts.host_network, ["worker"]);
    assert_eq!(facts.environment.len(), 3, "{:?}", facts.environment);
    let stack = crate::stack::Stack::inferred("p", "compose.yaml").unwrap();
    let f = check(&stack, &facts, &BTreeSet::new(), &|_, _| true);
    let msgs: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
    assert!(
        msgs.iter()
            .any(|m| m.contains("NEXTAUTH_URL") && m.contains("${PORT_WEB_3000:-3000}")),
        "{msgs:#?}"
    );
    assert!(
        msgs.iter()
            .any(|m| m.contains("API=") && m.contains("service worker"))
    );
    assert!(!msgs.iter().any(|m| m.contains("OTHER")));
    assert!(
        msgs.iter()
            .any(|m| m.contains("service worker uses network_mode: host"))
    );
}

#[test]
fn facts_are_read_from_the_text() {
    let f = read(COMPOSE);
    assert_eq!(f.services, ["web", "worker"]);
    assert_eq!(
        f.container_names,
        [("web".to_string(), "shop-web".to_string())]
    );
    assert_eq!(f.healthchecks, ["web"]);
    assert_eq!(f.external_volumes, ["cache"]);
    assert_eq!(f.external_networks, ["shared"]);
    let ports: Vec<(&str, Option<&str>)> = f
        .ports
        .iter()
        .map(|p| (p.text.as_str(), p.var.as_ref().map(|(v, _)| v.as_str())))
        .collect();
    assert_eq!(
        ports,
        [
            ("${WEB_PORT:-8080}:80", Some("WEB_PORT")),
            ("127.0.0.1:9000:9000", None),
            ("${WORKER_PORT}:5000", Some("WORKER_PORT"))
        ]
    );
    assert_eq!(f.ports[0].var.as_ref().unwrap().1.as_deref(), Some("8080"));
    assert!(f.variables.contains(&("TOKEN".to_string(), false)));
    assert!(f.variables.contains(&("MODE".to_string(), true)));
}

#[test]
fn the_check_names_each_problem() {
    let stack = Stack::parse(
            "name = \"Shop\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = 8080\nbase = 8080\n[[secrets]]\nfield = \"x\"\nvar = \"UNUSED\"\n",
            "t",
        )
        .unwrap();
    let f = read(COMPOSE);
    let findings = check(&stack, &f, &BTreeSet::new(), &|kind, name| {
        kind == "volume" && name == "cache"
    });
    let text: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    let has = |s: &str| text.iter().any(|t| t.contains(s));
    assert!(has("\"127.0.0.1:9000:9000\" is fixed"), "{text:?}");
    assert!(
        has("WORKER_PORT, which [[ports]] does not define"),
        "{text:?}"
    );
    assert!(has("container_name \"shop-web\""), "{text:?}");
    assert!(has("reads TOKEN, which nothing sets"), "{text:?}");
    assert!(!has("MODE"), "a default is a setting");
    assert!(
        has("UNUSED, which the compose file never reads"),
        "{text:?}"
    );
    assert!(has("external network shared does not exist"), "{text:?}");
    assert!(!has("external volume cache"), "it exists");
    // .env sets TOKEN: no longer a finding.
    let env: BTreeSet<String> = ["TOKEN".to_string()].into();
    assert!(
        !check(&stack, &f, &env, &|_, _| true)
            .iter()
            .any(|f| f.message.contains("TOKEN"))
    );
}

#[test]
fn the_ktrdr_demo_compose_file_passes_its_own_description() {
    let text = crate::support::assets::text::<crate::support::assets::Stacks>(
        "demo/docker-compose.sandbox.yml",
    );
    let f = read(&text);
    let findings: Vec<Finding> = check(&crate::stack::KTRDR, &f, &BTreeSet::new(), &|_, _| true)
        .into_iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(findings.is_empty(), "{findings:?}");
}

#[test]
fn a_draft_describes_the_variable_ports_and_flags_the_fixed_ones() {
    let d = draft("Shop", "compose.yaml", &read(COMPOSE));
    let stack = Stack::parse(&d, "draft").expect("the draft parses");
    assert_eq!(stack.ports.len(), 2);
    assert_eq!(stack.ports[0].key, "WEB_PORT");
    assert_eq!(stack.ports[0].slot0, 8080);
    assert!(d.contains("fixed host port \"127.0.0.1:9000:9000\""), "{d}");
    assert!(d.contains("service web has a healthcheck"), "{d}");
}

mod todays_ktrdr {
    use super::*;

    const TODAY: &str =
        include_str!("../../../tests/fixtures/ktrdr-2c5c7173/docker-compose.sandbox.yml");

    #[test]
    fn todays_tree_is_clean_under_todays_description_once_its_externals_exist() {
        let f = check(
            &crate::stack::KTRDR_2026,
            &read(TODAY),
            &BTreeSet::new(),
            &|_, _| true,
        );
        assert!(f.is_empty(), "{f:#?}");
        // Missing externals are errors kinfra can fix.
        let f = check(
            &crate::stack::KTRDR_2026,
            &read(TODAY),
            &BTreeSet::new(),
            &|_, _| false,
        );
        let made: Vec<_> = f.iter().filter_map(|f| f.create.clone()).collect();
        assert_eq!(
            made,
            [
                ("network".to_string(), "devops-ai-observability".to_string()),
                ("volume".to_string(), "ktrdr-agent-claude-auth".to_string())
            ]
        );
    }

    #[test]
    fn m6s_description_on_todays_tree_is_an_error_for_local_prod_secrets() {
        let f = check(
            &crate::stack::KTRDR,
            &read(TODAY),
            &BTreeSet::new(),
            &|_, _| true,
        );
        let errors: Vec<&str> = f
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .map(|f| f.message.as_str())
            .collect();
        assert!(
            errors
                .iter()
                .any(|m| m.contains("DB_PASSWORD") && m.contains("local-prod would start")),
            "{errors:#?}"
        );
        // The agents' fixed defaults are not in M6's port table.
        assert!(
            errors.iter().any(|m| m.contains("KTRDR_DESIGN_AGENT_PORT")),
            "{errors:#?}"
        );
        // M6's gate waits for a per-instance Jaeger today's tree does not have.
        assert!(
            f.iter().any(|f| f
                .message
                .contains("gate check \"jaeger\" names service jaeger")),
            "{f:#?}"
        );
    }

    #[test]
    fn images_built_by_hand_need_a_prepare_step() {
        let facts = read(TODAY);
        let have: BTreeSet<String> = BTreeSet::new();
        let f = missing_images(&crate::stack::KTRDR_2026, &facts, &have);
        let named: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
        // timescaledb is pulled; ktrdr-agent:dev has a prepare step; the backend
        // image has a build section.
        assert_eq!(named.len(), 1, "{named:#?}");
        assert!(named[0].contains("timescale/timescaledb:latest-pg16"));
        let f = missing_images(&crate::stack::KTRDR, &facts, &have);
        assert!(
            f.iter()
                .any(|f| f.message.contains("ktrdr-agent:dev") && f.message.contains("[[prepare]]")),
            "{f:#?}"
        );
        let have: BTreeSet<String> = ["timescale/timescaledb:latest-pg16".to_string()].into();
        assert!(missing_images(&crate::stack::KTRDR_2026, &facts, &have).is_empty());
    }

    #[test]
    fn a_port_key_nothing_reads_and_a_post_start_without_its_service() {
        let stack = crate::stack::Stack::parse(
            "name = \"s\"\ncompose_file = \"c.yml\"\n[[ports]]\nkey = \"S_WEB_PORT\"\nlocal_prod = 1\nbase = 2\n[[ports]]\nkey = \"S_OLD_PORT\"\nlocal_prod = 3\nbase = 4\n[post_start]\nname = \"m\"\nservice = \"gone\"\nscript = \"m.sh\"\n",
            "t",
        )
        .unwrap();
        let text = "services:\n  web:\n    image: x\n    ports:\n      - \"${S_WEB_PORT:-1}:80\"\n";
        let f = check(&stack, &read(text), &BTreeSet::new(), &|_, _| true);
        assert!(
            f.iter().any(|f| f.message.contains("port key S_OLD_PORT")),
            "{f:#?}"
        );
        assert!(
            !f.iter().any(|f| f.message.contains("port key S_WEB_PORT")),
            "{f:#?}"
        );
        assert!(
            f.iter()
                .any(|f| f.severity == Severity::Error && f.message.contains("service gone")),
            "{f:#?}"
        );
    }
}

#[test]
fn a_url_to_the_own_port_names_its_key_where_it_is_mapped_and_the_instances_port() {
    // Two services whose names share a form: the key is the copy's, hash and all.
    let text = "services:\n  web.app:\n    image: x\n    ports: [\"5001:5000\"]\n    environment:\n      APP_URL: http://localhost:5001\n  web-app:\n    image: x\n";
    let facts = read(text);
    let auto = crate::stack::Stack::inferred("p", "compose.yaml").unwrap();
    let forms = crate::tools::model::service_forms(["web.app", "web-app"]);
    let key = format!("PORT_{}_5000", forms["web.app"]);
    let instance: BTreeMap<String, String> = [(key.clone(), "20317".to_string())].into();
    let f = check_in(&auto, &facts, &BTreeSet::new(), &|_, _| true, &instance);
    assert!(
        f.iter()
            .any(|f| f.message.contains(&format!("${{{key}:-5001}}"))
                && f.message.contains("this instance's is 20317")
                && f.message.contains("port_scheme = \"auto\"")),
        "{f:#?}"
    );
    // The env scheme: the [[ports]] key the entry reads, and its kinfra.toml line.
    let text = "services:\n  web:\n    image: x\n    ports: [\"${WEB_PORT:-5001}:5000\"]\n    environment:\n      - APP_URL=http://localhost:5001/x\n";
    let stack = crate::stack::Stack::parse(
        "name = \"p\"\ncompose_file = \"compose.yaml\"\n[[ports]]\nkey = \"WEB_PORT\"\nlocal_prod = 5001\nbase = 20000\nstep = 1\n",
        "t",
    )
    .unwrap();
    let f = check(&stack, &read(text), &BTreeSet::new(), &|_, _| true);
    assert!(
        f.iter().any(|f| f.message.contains("${WEB_PORT:-5001}")
            && f.message.contains("[[ports]] key = \"WEB_PORT\"")),
        "{f:#?}"
    );
}

#[test]
fn flow_style_reads_as_block_style_does() {
    // The same file in YAML's flow style: a reader that walks indentation saw
    // one service of three and none of their ports.
    let block = "services:\n  web:\n    image: busybox\n    container_name: shop-web\n    ports:\n      - \"8080:80\"\n  db:\n    image: postgres\n    ports: [\"5432:5432\"]\n    environment:\n      MODE: dev\n  cache:\n    image: redis\n    ports:\n      - published: 6379\n        target: 6379\nvolumes:\n  data: {external: true}\n";
    let flow = "services: {web: {image: busybox, container_name: shop-web, ports: [\"8080:80\"]}, db: {image: postgres, ports: [\"5432:5432\"], environment: {MODE: dev}}, cache: {image: redis, ports: [{published: 6379, target: 6379}]}}\nvolumes: {data: {external: true}}\n";
    let (b, f) = (read(block), read(flow));
    assert_eq!(f, b);
    assert_eq!(f.services, ["web", "db", "cache"]);
    assert_eq!(f.ports.len(), 3, "{:?}", f.ports);
    assert_eq!(f.external_volumes, ["data"]);
    assert_eq!(f.unreadable, None);
    // Not YAML at all: said, never read as something else.
    let bad = read("services:\n  web: [unclosed\n");
    assert!(bad.unreadable.is_some() && bad.services.is_empty());
}

#[test]
fn a_secret_handed_on_by_a_bare_environment_entry_is_read() {
    // `- KEY` and `KEY:` hand on compose's own variable verbatim: the secret is read.
    let stack = Stack::parse(
        "name = \"s\"\ncompose_file = \"c.yml\"\n[local_prod.secrets]\nLIST_FORM = \"op://v/i/a\"\nMAP_FORM = \"op://v/i/b\"\nUNREAD = \"op://v/i/c\"\n",
        "t",
    )
    .unwrap();
    let compose = "services:\n  a:\n    image: x\n    environment:\n      - LIST_FORM\n      - OTHER=1\n  b:\n    image: x\n    environment:\n      MAP_FORM:\n";
    let findings = check(&stack, &read(compose), &BTreeSet::new(), &|_, _| true);
    let text: Vec<&str> = findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        !text
            .iter()
            .any(|t| t.contains("LIST_FORM") || t.contains("MAP_FORM")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|t| t.contains("UNREAD, which the compose file never reads")),
        "{text:?}"
    );
}
