//! Host ports by slot, computed from the stack's port table.

use crate::stack::Stack;

/// Every port key with its value for `slot` (0 = local-prod, 1.. = sandboxes).
pub fn for_slot(stack: &Stack, slot: u8) -> Vec<(&str, u16)> {
    stack
        .ports
        .iter()
        .filter_map(|r| {
            if slot == 0 {
                Some((r.key.as_str(), r.slot0))
            } else {
                r.sandbox
                    .map(|(base, step)| (r.key.as_str(), base + step * u16::from(slot)))
            }
        })
        .collect()
}

/// The stack's links filled in from `ports` (key → port): label and text, in the
/// stack's order; a link whose port is unknown shows `-`.
pub fn links<'s>(stack: &'s Stack, ports: &[(&str, u16)]) -> Vec<(&'s str, String)> {
    stack
        .links
        .iter()
        .map(|l| {
            let found: Vec<String> = ports
                .iter()
                .filter(|(k, _)| match l.port_key.strip_suffix('_') {
                    Some(_) => k.starts_with(l.port_key.as_str()),
                    None => *k == l.port_key,
                })
                .map(|(_, p)| l.template.replace("{port}", &p.to_string()))
                .collect();
            let text = if found.is_empty() {
                "-".to_string()
            } else {
                found.join(", ")
            };
            (l.label.as_str(), text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KTRDR;
    use std::collections::{BTreeMap, HashSet};

    #[test]
    fn links_fill_in_ports_and_list_prefixed_keys() {
        let l = links(&KTRDR, &for_slot(&KTRDR, 0));
        assert_eq!(l[0], ("API", "http://localhost:8000/api/v1".to_string()));
        assert_eq!(l[1], ("database", "localhost:5432".to_string()));
        let workers = &l.iter().find(|(k, _)| *k == "workers").unwrap().1;
        assert_eq!(workers, "5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010");
        assert_eq!(links(&KTRDR, &[])[0].1, "-");
    }

    fn map(slot: u8) -> BTreeMap<&'static str, u16> {
        for_slot(&KTRDR, slot).into_iter().collect()
    }

    #[test]
    fn slot0_is_standard_with_eight_workers() {
        let m = map(0);
        assert_eq!(m["KTRDR_API_PORT"], 8000);
        assert_eq!(m["KTRDR_DB_PORT"], 5432);
        assert_eq!(m["KTRDR_GRAFANA_PORT"], 3000);
        assert_eq!(m["KTRDR_JAEGER_UI_PORT"], 16686);
        assert_eq!(m["KTRDR_JAEGER_OTLP_GRPC_PORT"], 4317);
        assert_eq!(m["KTRDR_JAEGER_OTLP_HTTP_PORT"], 4318);
        assert_eq!(m["KTRDR_PROMETHEUS_PORT"], 9090);
        let workers: Vec<u16> = (1..=8)
            .map(|i| m[format!("KTRDR_WORKER_PORT_{i}").as_str()])
            .collect();
        assert_eq!(workers, (5003..=5010).collect::<Vec<_>>());
    }

    #[test]
    fn sandbox_slots_follow_the_table() {
        for n in 1..=10u16 {
            let m = map(n as u8);
            assert_eq!(m["KTRDR_API_PORT"], 8000 + n);
            assert_eq!(m["KTRDR_DB_PORT"], 5432 + n);
            assert_eq!(m["KTRDR_GRAFANA_PORT"], 3000 + n);
            assert_eq!(m["KTRDR_JAEGER_UI_PORT"], 16686 + n);
            assert_eq!(m["KTRDR_JAEGER_OTLP_GRPC_PORT"], 4317 + 10 * n);
            assert_eq!(m["KTRDR_JAEGER_OTLP_HTTP_PORT"], 4318 + 10 * n);
            assert_eq!(m["KTRDR_PROMETHEUS_PORT"], 9090 + n);
            for i in 0..4u16 {
                let key = format!("KTRDR_WORKER_PORT_{}", i + 1);
                assert_eq!(m[key.as_str()], 5011 + 10 * (n - 1) + i);
            }
            assert!(!m.contains_key("KTRDR_WORKER_PORT_5"));
            assert_eq!(m.len(), 11);
        }
    }

    #[test]
    fn no_port_repeats_across_slots() {
        let mut seen = HashSet::new();
        for slot in 0..=10 {
            for (key, port) in for_slot(&KTRDR, slot) {
                assert!(
                    seen.insert(port),
                    "port {port} ({key}, slot {slot}) repeats"
                );
            }
        }
        assert_eq!(seen.len(), 15 + 10 * 11);
    }
}
