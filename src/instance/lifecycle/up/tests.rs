use super::*;

fn cs(lines: &str) -> Vec<docker::Container> {
    docker::parse_ps(lines)
}

#[test]
fn undo_removes_only_what_the_start_made() {
    // db existed stopped; api existed running; web is new.
    let before = Before {
        containers: cs(
            "db\tp\tdb\texited\tExited\tp-db-1\t\napi\tp\tapi\trunning\tUp\tp-api-1\t\n",
        ),
        volumes: Some(vec!["p_pgdata".into()]),
        networks: Some(vec!["p_default".into()]),
    };
    let now = cs(
        "db\tp\tdb\trunning\tUp\tp-db-1\t\napi\tp\tapi\trunning\tUp\tp-api-1\t\nweb\tp\tweb\trunning\tUp\tp-web-1\t\n",
    );
    let u = plan_undo(
        &before,
        &now,
        &["p_pgdata".into(), "p_cache".into()],
        &["p_default".into()],
    );
    assert_eq!(u.remove, vec!["web"]);
    assert_eq!(u.stop, vec!["db"]);
    assert_eq!(u.left_running, 1);
    assert_eq!(u.volumes, vec!["p_cache"]);
    assert_eq!(u.kept_volumes, vec!["p_pgdata"]);
    assert!(
        u.networks.is_empty(),
        "containers remain: the network stays"
    );
}

#[test]
fn undo_keeps_every_volume_when_the_state_before_is_unknown() {
    let before = Before {
        containers: Vec::new(),
        volumes: None,
        networks: None,
    };
    let now = cs("web\tp\tweb\trunning\tUp\tp-web-1\t\n");
    let u = plan_undo(&before, &now, &["p_pgdata".into()], &["p_default".into()]);
    assert_eq!(u.remove, vec!["web"]);
    assert!(u.volumes.is_empty());
    assert_eq!(u.kept_volumes, vec!["p_pgdata"]);
    assert!(u.networks.is_empty());
    // A first start known to be one: its new volume and network go.
    let fresh = Before {
        containers: Vec::new(),
        volumes: Some(Vec::new()),
        networks: Some(Vec::new()),
    };
    let u = plan_undo(&fresh, &now, &["p_pgdata".into()], &["p_default".into()]);
    assert_eq!(u.volumes, vec!["p_pgdata"]);
    assert_eq!(u.networks, vec!["p_default"]);
}

#[test]
fn commented_keys_are_not_published() {
    let text = "ports:\n  - \"${KTRDR_API_PORT:-8000}:8000\"\n#  - \"${KTRDR_WORKER_PORT_5:-5007}:5007\"\n";
    let keys = vec![
        ("KTRDR_API_PORT".to_string(), 8000),
        ("KTRDR_WORKER_PORT_5".to_string(), 5007),
    ];
    assert_eq!(
        published_keys(text, &keys),
        vec![("KTRDR_API_PORT".to_string(), 8000)]
    );
}

#[test]
fn a_key_is_not_found_inside_a_longer_one() {
    let text =
        "ports:\n  - \"${KTRDR_WORKER_PORT_10:-5010}:5010\"\n  - \"$KTRDR_WORKER_PORT_11:5011\"\n";
    let keys = vec![
        ("KTRDR_WORKER_PORT_1".to_string(), 5003),
        ("KTRDR_WORKER_PORT_10".to_string(), 5010),
        ("KTRDR_WORKER_PORT_11".to_string(), 5011),
    ];
    assert_eq!(
        published_keys(text, &keys),
        vec![
            ("KTRDR_WORKER_PORT_10".to_string(), 5010),
            ("KTRDR_WORKER_PORT_11".to_string(), 5011)
        ]
    );
}
