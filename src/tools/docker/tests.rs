use super::*;

#[test]
fn memory_is_usage_less_page_cache() {
    // Trimmed from a real `GET /containers/ID/stats?one-shot=true` (engine 20.10, cgroup v2).
    let v2 = r#"{"read":"2026-11-27T13:25:01Z","memory_stats":{"usage":2322432,"stats":{"active_anon":4096,"inactive_file":1728512,"file":1736704},"limit":25276510208},"name":"/ktrdr--turns-db-1"}"#;
    assert_eq!(parse_memory_stats(v2), Some(2322432 - 1728512));
    let v1 = r#"{"memory_stats":{"usage":1000,"stats":{"cache":400}}}"#;
    assert_eq!(parse_memory_stats(v1), Some(600));
    // A stopped container reports no usage.
    assert_eq!(parse_memory_stats(r#"{"memory_stats":{}}"#), None);
    assert_eq!(parse_memory_stats("not json"), None);
}

// Captured from `docker ps -a --format PS_FORMAT` (docker 28 client, engine 20.10).
const SAMPLE: &str = "3f1c0a\tktrdr-prod\tbackend\trunning\tUp 3 seconds (healthy)\tktrdr-prod_backend_1\t0.0.0.0:8000->8000/tcp, [::]:8000->8000/tcp\n\
9a2b11\tktrdr-prod\tjaeger\trunning\tUp 4 seconds\tktrdr-prod_jaeger_1\t0.0.0.0:4317-4318->4317-4318/tcp, [::]:4317-4318->4317-4318/tcp, 0.0.0.0:16686->16686/tcp, [::]:16686->16686/tcp\n\
77aa00\tktrdr--b\tmcp-local\texited\tExited (137) 2 minutes ago\tktrdr--b-mcp-local-1\t\n";

#[test]
fn parses_captured_ps() {
    let cs = parse_ps(SAMPLE);
    assert_eq!(cs.len(), 3);
    assert_eq!(cs[0].service, "backend");
    assert_eq!(cs[0].health(), Some(Health::Healthy));
    assert_eq!(cs[0].host_ports, vec![8000]);
    assert_eq!(cs[1].host_ports, vec![4317, 4318, 16686]);
    assert!(!cs[2].running());
    assert!(cs[2].host_ports.is_empty());
    let groups = by_project(cs);
    assert_eq!(groups["ktrdr-prod"].len(), 2);
}

#[test]
fn endpoints_on_this_machine_or_another() {
    let e = |h: &str| Endpoint {
        host: h.into(),
        via: "t".into(),
    };
    assert_eq!(e("unix:///var/run/docker.sock").is_local(), Some(true));
    assert_eq!(
        e("unix:///Users/u/.docker/run/docker.sock").is_local(),
        Some(true)
    );
    assert_eq!(e("tcp://127.0.0.1:2375").is_local(), Some(true));
    assert_eq!(e("tcp://localhost:2375").is_local(), Some(true));
    assert_eq!(e("tcp://[::1]:2375").is_local(), Some(true));
    assert_eq!(e("ssh://me@localhost").is_local(), Some(true));
    assert_eq!(e("tcp://build-box:2376").is_local(), Some(false));
    assert_eq!(e("tcp://192.0.2.7:2375").is_local(), Some(false));
    assert_eq!(e("ssh://me@build-box").is_local(), Some(false));
    assert_eq!(e("ssh://127.0.0.1.example.com").is_local(), Some(false));
    assert_eq!(e("").is_local(), None);
}

#[test]
fn host_ports_ignore_unpublished() {
    assert_eq!(parse_host_ports("5003/tcp"), Vec::<u16>::new());
    assert_eq!(parse_host_ports("127.0.0.1:9090->9090/tcp"), vec![9090]);
}

#[test]
fn an_image_is_an_instances_own_only_by_its_labels() {
    let labels = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // compose v2's own label, or kinfra's on a v1 build.
    assert!(built_by(&labels(&[(PROJECT_LABEL, "shop--a")]), "shop--a"));
    assert!(built_by(
        &labels(&[(BUILT_FOR_LABEL, "shop--a")]),
        "shop--a"
    ));
    // A tag by hand carries no label; another instance's labels are not this one's.
    assert!(!built_by(&labels(&[]), "shop--a"));
    assert!(!built_by(&labels(&[(PROJECT_LABEL, "shop--b")]), "shop--a"));
    assert!(!built_by(&labels(&[("team", "shop--a")]), "shop--a"));
}

#[test]
fn the_engine_is_the_calls_not_the_processes() {
    // A call on a remote instance: this thread's docker calls go there.
    let outer = EngineScope::this_machine().enter();
    use_engine("box", "ssh://dev@box.lan").unwrap();
    assert_eq!(endpoint().host, "ssh://dev@box.lan");
    // One command, one engine: another is refused, the same one is fine.
    assert!(use_engine("gpu", "ssh://me@gpu").is_err());
    use_engine("box", "ssh://dev@box.lan").unwrap();
    // A call beside it (another thread) is on this machine's engine...
    let beside = std::thread::spawn(engine_in_use).join().unwrap();
    assert_eq!(beside, None);
    // ...and a thread the call starts works where the call does, once it enters it.
    let scope = EngineScope::current();
    let carried = std::thread::spawn(move || {
        let _g = scope.enter();
        engine_in_use()
    })
    .join()
    .unwrap();
    assert_eq!(carried.map(|(n, _)| n).as_deref(), Some("box"));
    // The next call on this (pooled) thread starts on this machine's engine.
    drop(outer);
    assert_eq!(engine_in_use(), None);
    assert_ne!(endpoint().host, "ssh://dev@box.lan");
    let _next = EngineScope::this_machine().enter();
    use_engine("gpu", "ssh://me@gpu").unwrap();
    assert_eq!(endpoint().host, "ssh://me@gpu");
}
