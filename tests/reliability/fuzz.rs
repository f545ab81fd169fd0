//! Bounded property-based fuzzing of the parsers that read what users and other
//! tools write: `.env.sandbox`, the registry, `docker ps` and `compose ps` output,
//! and name slugging. Any crash found becomes a regression test in the unit tests.

use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::Tally;

/// Generated inputs per parser: 3000 in the full suite; `KINFRA_TEST_FUZZ_CASES` bounds
/// it for the quick pass (`scripts/test --fast`), which must fit in minutes.
fn cases() -> u32 {
    std::env::var("KINFRA_TEST_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// Text that looks like what the parsers see: lines, `=`, tabs, quotes, BOMs, CRs.
fn texty() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("=".to_string()),
            Just("\n".to_string()),
            Just("\r\n".to_string()),
            Just("\t".to_string()),
            Just("#".to_string()),
            Just("\u{feff}".to_string()),
            Just("KTRDR_API_PORT".to_string()),
            Just("SLOT_NUMBER".to_string()),
            Just("{\"".to_string()),
            Just("\":".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            "[a-zA-Z0-9_ .:/-]{0,12}",
            any::<String>(),
        ],
        0..40,
    )
    .prop_map(|v| v.concat())
}

pub fn run(t: &mut Tally) {
    t.case("fuzzing", ".env.sandbox parser", || {
        let mut r = runner();
        r.run(&texty(), |text| {
            if let Ok(map) = kinfra::state::envfile::parse(&text) {
                // Whatever parses renders back to the same map.
                let again = kinfra::state::envfile::parse(
                    &kinfra::state::envfile::render(&map).expect("what parses renders"),
                )
                .expect("re-parse");
                prop_assert_eq!(again, map.clone());
                let _ =
                    kinfra::instance::model::env::SandboxEnv::from_map(&kinfra::stack::KTRDR, map);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        format!(
            "{} generated files: no panic; every accepted file round-trips",
            cases()
        )
    });

    t.case("fuzzing", "registry loader", || {
        let mut r = runner();
        let entry = (any::<u8>(), "[a-z-]{1,10}", any::<bool>(), proptest::option::of("[a-z/]{1,10}"));
        let strat = prop_oneof![
            texty().prop_map(|s| s.into_bytes()),
            prop::collection::vec(any::<u8>(), 0..200),
            prop::collection::vec(entry, 0..5).prop_map(|es| {
                let mut m = serde_json::Map::new();
                for (slot, id, wt, parent) in es {
                    m.insert(
                        id.clone(),
                        serde_json::json!({"instance_id": id, "slot": slot, "path": format!("/w/{id}"),
                            "created_at": "2026-01-01T00:00:00Z", "is_worktree": wt, "parent_repo": parent}),
                    );
                }
                serde_json::to_vec(&serde_json::json!({"version": 1, "local_prod": null, "instances": m}))
                    .expect("json")
            }),
        ];
        r.run(&strat, |bytes| {
            if let Ok(c) = kinfra::state::registry::Contents::parse(&bytes, Path::new("r.json")) {
                let out = serde_json::to_vec(&c).expect("serialize");
                let back = kinfra::state::registry::Contents::parse(&out, Path::new("r.json")).expect("re-parse");
                prop_assert_eq!(back, c);
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        format!("{} generated files (random bytes, near-JSON, valid registries): no panic; accepted ones round-trip", cases())
    });

    t.case("fuzzing", "docker ps, ports, gate JSON and op item parsers", || {
        let mut r = runner();
        r.run(&texty(), |text| {
            let cs = kinfra::tools::docker::parse_ps(&text);
            for c in &cs {
                let _ = c.health();
            }
            let _ = kinfra::tools::docker::parse_host_ports(&text);
            let _ = kinfra::instance::gate::probes::json_length(&text, "/workers");
            let _ = kinfra::tools::secrets::parse_item(&kinfra::stack::KTRDR.fields_for(kinfra::stack::Kind::Sandbox), &text);
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        format!("{} generated outputs through the docker ps, ports, workers and op-item parsers: no panic", cases())
    });

    t.case("fuzzing", "name slugging", || {
        let mut r = runner();
        r.run(&any::<String>(), |name| {
            if let Ok(slug) = kinfra::support::slug::slugify(&name) {
                prop_assert!(kinfra::support::slug::is_valid_project_name(&slug), "{slug:?}");
                prop_assert!(slug.len() <= kinfra::support::slug::MAX_SLUG);
                prop_assert!(!slug.contains('/') && !slug.contains(".."));
                prop_assert_eq!(kinfra::support::slug::slugify(&slug).expect("idempotent"), slug.clone());
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
        format!("{} generated names: every slug is a valid compose project name, ≤ 63 chars, no path segments, idempotent", cases())
    });
}
