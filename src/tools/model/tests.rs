use super::*;

// `docker-compose config` 1.29.2 for a file with "8080:80", "127.0.0.1:8443:443",
// "${DB_PORT:-5432}:5432", a range 9000-9001, and a service under a profile.
const V1: &str = r#"services:
  db:
    command:
    - sleep
    - '3600'
    image: busybox:1.35
    ports:
    - published: 5432
      target: 5432
    - published: 9000
      target: 9000
    - published: 9001
      target: 9001
  web:
    healthcheck:
      interval: 1s
      test:
      - CMD
      - "true"
    image: busybox:1.35
    environment:
      SECRET: KINFRA-SECRET-MY_SECRET-PLACEHOLDER
      LIT: a$$b
    ports:
    - published: 8080
      target: 80
    - 127.0.0.1:8443:443/tcp
    - target: 81
  worker:
    expose:
    - '7000'
    image: busybox:1.35
    profiles:
    - extra
version: '3.9'
volumes:
  data: {}
"#;

// `docker compose config --format json` 2.26.1, same file (profile left out).
const V2: &str = r#"{"name":"zc-a","services":{"db":{"image":"busybox:1.35","ports":[
        {"mode":"ingress","target":5432,"published":"5432","protocol":"tcp"},
        {"mode":"ingress","target":53,"published":"5353","protocol":"udp"}]},
      "web":{"image":"busybox:1.35","ports":[
        {"mode":"ingress","target":80,"published":"8080","protocol":"tcp"},
        {"mode":"ingress","host_ip":"127.0.0.1","target":443,"published":"8443","protocol":"tcp"},
        {"mode":"ingress","target":81,"protocol":"tcp"}]}},
      "volumes":{"data":{"name":"zc-a_data"}}}"#;

#[test]
fn fixed_subnets_move_with_their_static_addresses() {
    let c = Cidr::parse("172.28.5.7/16").unwrap();
    assert_eq!(c.to_string(), "172.28.0.0/16");
    assert!(c.overlaps(Cidr::parse("172.28.3.0/24").unwrap()));
    assert!(!c.overlaps(Cidr::parse("172.29.0.0/16").unwrap()));
    let taken = [
        Cidr::parse("10.200.0.0/16").unwrap(),
        Cidr::parse("10.201.4.0/24").unwrap(),
    ];
    assert_eq!(
        choose_subnet(16, &taken).unwrap().to_string(),
        "10.202.0.0/16"
    );
    assert_eq!(
        choose_subnet(24, &taken).unwrap().to_string(),
        "10.201.0.0/24"
    );
    assert!(choose_subnet(8, &[]).is_none(), "wider than the range");
    let mut doc = serde_json::json!({
        "networks": {
            "back": {"ipam": {"config": [{"subnet": "172.28.0.0/16", "gateway": "172.28.0.1", "ip_range": "172.28.5.0/24"}]}},
            "plain": {"name": "x"},
            "ext": {"external": true, "ipam": {"config": [{"subnet": "192.168.9.0/24"}]}}
        },
        "services": {"db": {"networks": {"back": {"ipv4_address": "172.28.0.10"}, "plain": null}}}
    });
    let fixed = fixed_subnets(&doc);
    assert_eq!(
        fixed,
        vec![("back".to_string(), Cidr::parse("172.28.0.0/16").unwrap())]
    );
    let chosen: BTreeMap<String, Cidr> =
        [("back".to_string(), Cidr::parse("10.203.0.0/16").unwrap())].into();
    let done = rewrite_subnets(&mut doc, &chosen);
    assert_eq!(
        done,
        vec![(
            "back".into(),
            "172.28.0.0/16".into(),
            "10.203.0.0/16".into()
        )]
    );
    let cfg = &doc["networks"]["back"]["ipam"]["config"][0];
    assert_eq!(
        (
            cfg["subnet"].as_str(),
            cfg["gateway"].as_str(),
            cfg["ip_range"].as_str()
        ),
        (
            Some("10.203.0.0/16"),
            Some("10.203.0.1"),
            Some("10.203.5.0/24")
        )
    );
    assert_eq!(
        doc["services"]["db"]["networks"]["back"]["ipv4_address"],
        "10.203.0.10"
    );
}

#[test]
fn the_copy_is_made_the_instances_own() {
    // Shapes captured from `docker compose config --format json` (2.26) and
    // `docker-compose config` (1.29) of one project.
    let v2: Value = serde_json::json!({
        "networks": {"backnet": {"name": "shared-backnet", "ipam": {}}, "other": {"name": "p--a_other", "ipam": {}},
                     "team": {"name": "team-net", "external": true}},
        "volumes": {"dbdata": {"name": "fixed-dbdata"}, "ext": {"name": "team-data", "external": true},
                    "own": {"name": "p--a_own"}},
        "services": {
            "db": {"container_name": "fastapi-db", "networks": {"backnet": null}},
            "web": {"container_name": "web", "networks": {"backnet": {"aliases": ["frontend"]}, "other": null}},
            "hostie": {"network_mode": "host"}
        }
    });
    let mut d = v2.clone();
    let iso = isolate(&mut d, "p--a", true, &[]);
    assert_eq!(d["networks"]["backnet"]["name"], "p--a_shared-backnet");
    assert_eq!(
        d["networks"]["other"]["name"], "p--a_other",
        "already its own"
    );
    assert_eq!(d["networks"]["team"]["name"], "team-net", "external stays");
    assert_eq!(d["volumes"]["dbdata"]["name"], "p--a_fixed-dbdata");
    assert_eq!(d["volumes"]["ext"], serde_json::json!({"name": "p--a_ext"}));
    assert!(d["services"]["db"].get("container_name").is_none());
    assert_eq!(
        d["services"]["db"]["networks"]["backnet"]["aliases"],
        serde_json::json!(["fastapi-db"])
    );
    assert_eq!(
        d["services"]["web"]["networks"]["backnet"]["aliases"],
        serde_json::json!(["frontend", "web"])
    );
    assert_eq!(
        d["services"]["web"]["networks"]["other"]["aliases"],
        serde_json::json!(["web"])
    );
    assert_eq!(iso.host_network, ["hostie"]);
    assert_eq!(iso.external_networks, ["team-net"]);
    assert_eq!(
        iso.external_volumes,
        [("team-data".to_string(), "p--a_ext".to_string())]
    );
    assert_eq!(iso.container_names.len(), 2);
    assert!(iso.lines().iter().any(|l| l.contains("network_mode: host")));
    // Shared on the repository's word; local-prod keeps the project's names.
    let mut d = v2.clone();
    let iso = isolate(&mut d, "p--a", true, &["team-data".to_string()]);
    assert_eq!(d["volumes"]["ext"]["external"], true);
    assert_eq!(iso.shared_volumes, ["team-data"]);
    let mut d = v2.clone();
    let iso = isolate(&mut d, "p-prod", false, &[]);
    assert_eq!(d["networks"]["backnet"]["name"], "shared-backnet");
    assert_eq!(d["volumes"]["ext"]["external"], true);
    assert!(iso.networks.is_empty() && iso.external_volumes.is_empty());
    assert!(
        d["services"]["db"].get("container_name").is_none(),
        "dropped for every instance"
    );
    // v1 leaves out the default network of a service that names none, and may
    // list networks as a sequence.
    let mut v1: Value = parse("services:\n  db:\n    container_name: pg\n    image: x\n  w:\n    container_name: w1\n    networks: [a, b]\n").expect("yaml");
    isolate(&mut v1, "p--b", true, &[]);
    assert_eq!(
        v1["services"]["db"]["networks"]["default"]["aliases"],
        serde_json::json!(["pg"])
    );
    assert_eq!(
        v1["services"]["w"]["networks"]["b"]["aliases"],
        serde_json::json!(["w1"])
    );
}

#[test]
fn services_that_share_a_name_form_get_their_own_keys() {
    let f = service_forms(["web.app", "web-app", "web_app", "WEB_APP", "db"]);
    assert_eq!(f["web_app"], "WEB_APP");
    assert_eq!(f["db"], "DB");
    assert!(f["web.app"].starts_with("WEB_APP_") && f["web-app"].starts_with("WEB_APP_"));
    let all: BTreeSet<&String> = f.values().collect();
    assert_eq!(all.len(), 5, "{f:?}");
    // Independent of order and of the other names present.
    let g = service_forms(["web-app", "web.app"]);
    assert_eq!(g["web-app"], f["web-app"]);
    assert_eq!(service_forms(["web-app"])["web-app"], "WEB_APP");
    assert_eq!(
        shared_forms(["web.app", "db", "web-app"]),
        vec![vec!["web-app".to_string(), "web.app".to_string()]]
    );
    for k in all {
        assert!(crate::support::validate::env_name(k).is_ok(), "{k}");
    }
    let doc: Value = serde_json::json!({"services": {
        "web.app": {"ports": [{"target": 80, "published": "8080", "protocol": "tcp"}]},
        "web-app": {"ports": [{"target": 80, "published": "8081", "protocol": "tcp"}]},
        "web_app": {"ports": [{"target": 80, "published": "8082", "protocol": "tcp"}]}
    }});
    let m = read(&doc, &[]);
    let keys: BTreeSet<String> = m.ports.iter().map(Published::key).collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
}

#[test]
fn both_variants_give_services_and_fixed_ports() {
    let m = read(&parse(V1).unwrap(), &[]);
    assert_eq!(m.services, ["db", "web"]);
    let keys: Vec<(String, u16)> = m.ports.iter().map(|p| (p.key(), p.base)).collect();
    assert_eq!(
        keys,
        [
            ("PORT_DB_5432".to_string(), 5432),
            ("PORT_DB_9000".to_string(), 9000),
            ("PORT_DB_9001".to_string(), 9001),
            ("PORT_WEB_80".to_string(), 8080),
            ("PORT_WEB_443".to_string(), 8443),
        ]
    );
    let with_profile = read(&parse(V1).unwrap(), &["extra".into()]);
    assert_eq!(with_profile.services, ["db", "web", "worker"]);
    let m = read(&parse(V2).unwrap(), &[]);
    let keys: Vec<String> = m.ports.iter().map(Published::key).collect();
    assert_eq!(
        keys,
        [
            "PORT_DB_5432",
            "PORT_DB_53_UDP",
            "PORT_WEB_80",
            "PORT_WEB_443"
        ]
    );
}

#[test]
fn rewriting_keeps_each_entry_shape_and_address() {
    let ports: BTreeMap<String, u16> = [
        ("PORT_WEB_80".to_string(), 18180),
        ("PORT_WEB_443".to_string(), 18543),
        ("PORT_DB_53_UDP".to_string(), 15453),
    ]
    .into_iter()
    .collect();
    let mut v1 = parse(V1).unwrap();
    let done = rewrite_ports(&mut v1, &ports);
    assert_eq!(done.len(), 2);
    let web = &v1["services"]["web"]["ports"];
    assert_eq!(web[0]["published"], Value::from(18180));
    assert_eq!(web[1], Value::from("127.0.0.1:18543:443/tcp"));
    assert_eq!(web[2], serde_json::json!({"target": 81}));
    assert_eq!(v1["services"]["db"]["ports"][0]["published"], 5432);
    let mut v2 = parse(V2).unwrap();
    rewrite_ports(&mut v2, &ports);
    assert_eq!(v2["services"]["web"]["ports"][0]["published"], "18180");
    assert_eq!(v2["services"]["web"]["ports"][1]["host_ip"], "127.0.0.1");
    assert_eq!(v2["services"]["db"]["ports"][1]["published"], "15453");
}

#[test]
fn a_target_published_twice_gets_two_keys_and_two_ports() {
    let mut doc = parse(
            "services:\n  web:\n    ports:\n    - published: 8080\n      target: 80\n    - 127.0.0.1:8081:80/tcp\n",
        )
        .unwrap();
    let keys: Vec<String> = read(&doc, &[]).ports.iter().map(Published::key).collect();
    assert_eq!(keys, ["PORT_WEB_80", "PORT_WEB_80_N2"]);
    let ports: BTreeMap<String, u16> = [
        ("PORT_WEB_80".to_string(), 8180),
        ("PORT_WEB_80_N2".to_string(), 8181),
    ]
    .into_iter()
    .collect();
    assert_eq!(rewrite_ports(&mut doc, &ports).len(), 2);
    assert_eq!(doc["services"]["web"]["ports"][0]["published"], 8180);
    assert_eq!(doc["services"]["web"]["ports"][1], "127.0.0.1:8181:80/tcp");
}

#[test]
fn the_cache_key_follows_the_files_compose_may_read_and_not_kinfras_own() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("compose.yaml"), "services: {}\n").unwrap();
    let compose = Compose {
        variant: Variant::Plugin,
        version: "2.26.1".into(),
    };
    let p = Project::new("x", &d.join("compose.yaml"), d);
    let key = || cache_key(&compose, &p, &[]);
    let k0 = key();
    assert_eq!(key(), k0, "stable");
    std::fs::write(
        d.join(crate::state::envfile::FILE_NAME),
        "PORT_WEB_80=8180\n",
    )
    .unwrap();
    assert_eq!(key(), k0, ".env.sandbox is kinfra's own");
    std::fs::write(d.join("README.md"), "hello\n").unwrap();
    assert_eq!(key(), k0, "unrelated files do not count");
    for (file, text) in [
        (".env.web", "A=1\n"),
        ("included.yaml", "services: {}\n"),
        (".env", "B=2\n"),
    ] {
        let before = key();
        std::fs::write(d.join(file), text).unwrap();
        assert_ne!(key(), before, "{file} counts");
    }
}

#[test]
fn secrets_come_back_as_references_never_values() {
    let mut doc = parse(V1).unwrap();
    restore_placeholders(&mut doc, &["MY_SECRET".into()]);
    assert_eq!(
        doc["services"]["web"]["environment"]["SECRET"],
        "${MY_SECRET}"
    );
    // compose's own escaping is kept: `$$` stays a literal dollar.
    assert_eq!(doc["services"]["web"]["environment"]["LIT"], "a$$b");
}

#[test]
fn short_port_strings() {
    let s = |t: &str| split_short(t).map(|(p, ip)| (p.published, p.target, p.protocol, ip));
    assert_eq!(s("8080:80"), Some((Some(8080), 80, "tcp".into(), None)));
    assert_eq!(
        s("127.0.0.1:8443:443/tcp"),
        Some((Some(8443), 443, "tcp".into(), Some("127.0.0.1".into())))
    );
    assert_eq!(
        s("[::1]:5000:5000/udp"),
        Some((Some(5000), 5000, "udp".into(), Some("[::1]".into())))
    );
    assert_eq!(
        s("127.0.0.1::80"),
        Some((None, 80, "tcp".into(), Some("127.0.0.1".into())))
    );
    assert_eq!(s("80"), Some((None, 80, "tcp".into(), None)));
    assert_eq!(s("9000-9001:9000-9001"), None);
}
