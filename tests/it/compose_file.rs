//! The demo's KTRDR-shaped compose file with KTRDR's description, checked by the
//! real compose tool: ports per slot, profile, no container_name.

use kinfra::instance::model::env::SandboxEnv;
use kinfra::stack::KTRDR;
use kinfra::tools::compose::{Compose, Project};

use crate::harness::Env;

fn config(env: &Env, slot: u8, profile: Option<&str>) -> String {
    // The variant under test; probed without kinfra's cache, which lives in a home.
    let compose = Compose::probe().expect("a compose tool (docker compose or docker-compose)");
    let file = env.base().join("docker-compose.sandbox.yml");
    std::fs::write(
        &file,
        kinfra::support::assets::text::<kinfra::support::assets::Stacks>(
            "demo/docker-compose.sandbox.yml",
        ),
    )
    .expect("write");
    let id = if slot == 0 {
        "ktrdr-prod".to_string()
    } else {
        format!("ktrdr--s{slot}")
    };
    let senv = SandboxEnv::new(
        &KTRDR,
        slot,
        &id,
        &env.kinfra_home.join("shared"),
        "2026-01-01T00:00:00Z",
    );
    let mut p = Project::new(&id, &file, &env.work);
    p.profiles = profile.map(String::from).into_iter().collect();
    p.env = senv.vars.into_iter().collect();
    compose
        .cmd(&p)
        .arg("config")
        .run()
        .unwrap_or_else(|e| panic!("compose config failed: {e}"))
}

fn published(cfg: &str) -> Vec<u16> {
    let mut v: Vec<u16> = cfg
        .lines()
        .filter_map(|l| {
            l.trim()
                .trim_start_matches("- ")
                .strip_prefix("published: ")
        })
        .filter_map(|p| p.trim_matches('"').parse().ok())
        .collect();
    v.sort();
    v
}

#[test]
fn ktrdr_compose_file_is_valid_for_local_prod_and_a_sandbox() {
    let Some(env) = Env::with_docker() else {
        crate::harness::record_skip();
        return;
    };
    let prod = config(&env, 0, Some("local-prod"));
    for svc in [
        "db:",
        "backend:",
        "jaeger:",
        "prometheus:",
        "grafana:",
        "mcp-local:",
        "backtest-worker-1:",
        "training-worker-2:",
    ] {
        assert!(prod.contains(&format!("  {svc}")), "{svc} missing\n{prod}");
    }
    assert!(!prod.contains("container_name"));
    assert_eq!(
        published(&prod),
        vec![
            3000, 4317, 4318, 5003, 5004, 5005, 5006, 5007, 5432, 8000, 9090, 16686
        ]
    );
    let s3 = config(&env, 3, None);
    assert_eq!(
        published(&s3),
        vec![
            3003, 4347, 4348, 5031, 5032, 5033, 5034, 5435, 8003, 9093, 16689
        ]
    );
    assert!(s3.contains("/mcp"), "mcp-local mounts ./mcp at /mcp");
}
