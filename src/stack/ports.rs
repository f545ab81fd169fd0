//! Host ports by slot, computed from the stack's port table.

use std::collections::{BTreeMap, BTreeSet};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};

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
                // The description checks its table up to its own max_slot, but the
                // slot is the registry's (or a worktree's description was edited
                // since the slot was given): a port past 65535 is no port, never a
                // panic or a wrapped-around number (another instance's port).
                let (base, step) = r.sandbox?;
                let port = u32::from(base) + u32::from(step) * u32::from(slot);
                Some((r.key.as_str(), u16::try_from(port).ok()?))
            }
        })
        .collect()
}

/// The ports an instance at `slot` publishes itself: [`for_slot`] without the
/// `fixed` ports of shared services (the same for every instance, held by the
/// shared service, never a conflict between instances).
pub fn own_for_slot(stack: &Stack, slot: u8) -> Vec<(&str, u16)> {
    let fixed: BTreeSet<&str> = stack
        .ports
        .iter()
        .filter(|r| r.fixed)
        .map(|r| r.key.as_str())
        .collect();
    for_slot(stack, slot)
        .into_iter()
        .filter(|(k, _)| !fixed.contains(k))
        .collect()
}

/// Is `key` a `fixed` port of the stack (a shared service's)?
pub fn is_fixed(stack: &Stack, key: &str) -> bool {
    stack.ports.iter().any(|r| r.fixed && r.key == key)
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

/// Pure: host ports for an instance whose ports kinfra chooses (`port_scheme =
/// "auto"`). `wanted` are the model's published ports (key, the project's own port).
/// A key that has a port (`kept`) keeps it: ports stay stable across starts. A new
/// one takes `base + 100 × slot`, or the next port up that is not `taken` (another
/// instance's), not one of the project's own ports (a plain `docker compose up` of
/// the checkout holds those) and not `held` by anything running now. Slot 0
/// (local-prod, production-like) prefers the project's own port for each.
pub fn allocate(
    wanted: &[(String, u16)],
    slot: u8,
    kept: &BTreeMap<String, u16>,
    taken: &BTreeSet<u16>,
    held: &dyn Fn(u16) -> bool,
) -> BTreeMap<String, u16> {
    let bases: BTreeSet<u16> = wanted.iter().map(|(_, b)| *b).collect();
    let mut out = BTreeMap::new();
    let mut used: BTreeSet<u16> = taken.clone();
    for (key, _) in wanted {
        if let Some(p) = kept.get(key) {
            out.insert(key.clone(), *p);
            used.insert(*p);
        }
    }
    for (key, base) in wanted {
        if out.contains_key(key) {
            continue;
        }
        // One target published on tcp and udp (DNS, TURN, games) needs one number:
        // the twin that got its port first gives it to the other.
        if let Some(twin) = twin_of(key, wanted)
            && let Some(p) = out.get(&twin).copied()
        {
            out.insert(key.clone(), p);
            continue;
        }
        let own = |p: u16| slot == 0 && p == *base;
        // A port under 1024 maps high and stable: 20000 + 10 × port + slot (80 →
        // 20801 for slot 1), not 1024, 1025… in creation order.
        let start = if *base < 1024 {
            20000 + 10 * u32::from(*base) + u32::from(slot)
        } else {
            u32::from(*base) + 100 * u32::from(slot)
        };
        // Slot 0 tries the project's own port first; past the top, the same search
        // from 20000 (above the well-known ports).
        let first = (slot == 0).then_some(u32::from(*base));
        let candidates = first
            .into_iter()
            .chain(start..=65535)
            .chain(20000..start.min(65536));
        let free = candidates.filter_map(|p| u16::try_from(p).ok()).find(|p| {
            (*p >= 1024 || own(*p))
                && !used.contains(p)
                && (!bases.contains(p) || own(*p))
                && !held(*p)
        });
        if let Some(p) = free {
            out.insert(key.clone(), p);
            used.insert(p);
        }
    }
    out
}

/// Pure: the key publishing the same target and base on the other protocol
/// (`PORT_DNS_53` ↔ `PORT_DNS_53_UDP`), when `wanted` has it.
fn twin_of(key: &str, wanted: &[(String, u16)]) -> Option<String> {
    let base = wanted.iter().find(|(k, _)| k == key)?.1;
    let twin = match key.strip_suffix("_UDP") {
        Some(tcp) => tcp.to_string(),
        None => format!("{key}_UDP"),
    };
    wanted
        .iter()
        .any(|(k, b)| *k == twin && *b == base)
        .then_some(twin)
}

/// Pure: the port `list` shows for an instance whose ports kinfra chose: the one a
/// person opens first — a web target (443, 80, then the usual app ports) of a
/// service named like a front end (`web`, `app`, `frontend`, `nginx`, `proxy`,
/// `ui`) before others — the same one every time, whatever the keys' order.
pub fn main_port(ports: &BTreeMap<String, u16>) -> Option<u16> {
    let score = |key: &str| -> (u8, u8) {
        let rest = key
            .strip_prefix(crate::tools::model::PORT_PREFIX)
            .unwrap_or(key);
        let udp = rest.ends_with("_UDP");
        let mut parts = rest.rsplit('_').filter(|p| p.parse::<u16>().is_ok());
        let target: u16 = parts.next().and_then(|t| t.parse().ok()).unwrap_or(0);
        let web = match target {
            _ if udp => 9,
            443 | 80 => 0,
            8443 | 8080 | 3000 | 5000 | 8000..=8099 | 8888 | 4200 | 5173 => 1,
            _ => 5,
        };
        let front = [
            "WEB", "APP", "FRONTEND", "NGINX", "PROXY", "UI", "CADDY", "TRAEFIK",
        ]
        .iter()
        .any(|n| rest.starts_with(&format!("{n}_")));
        (web, u8::from(!front))
    };
    ports
        .iter()
        .min_by_key(|(k, _)| (score(k), (*k).clone()))
        .map(|(_, p)| *p)
}

/// Links for allocated ports: `service:target` → `http://localhost:PORT` for the
/// usual web ports, `localhost:PORT` otherwise.
pub fn auto_links(ports: &[(String, u16)]) -> Vec<(String, String)> {
    ports
        .iter()
        .filter_map(|(k, p)| {
            let mut rest = k.strip_prefix(crate::tools::model::PORT_PREFIX)?;
            // `…_N2`: the second entry publishing the same target.
            let mut nth = String::new();
            if let Some((r, n)) = rest.rsplit_once("_N")
                && !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
            {
                nth = format!("#{n}");
                rest = r;
            }
            let (svc, target) = rest.rsplit_once('_')?;
            // `…_53_UDP`: no scheme.
            let (svc, target, udp) = match target.parse::<u16>() {
                Ok(t) => (svc, t, false),
                Err(_) => {
                    let (s, t) = svc.rsplit_once('_')?;
                    (s, t.parse().ok()?, true)
                }
            };
            let web = !udp
                && matches!(
                    target,
                    80 | 443 | 3000 | 5000 | 8000..=8099 | 8443 | 8888 | 9090
                );
            let scheme = if target == 443 || target == 8443 {
                "https"
            } else {
                "http"
            };
            let text = if web {
                format!("{scheme}://localhost:{p}")
            } else {
                format!("localhost:{p}")
            };
            let proto = if udp { "/udp" } else { "" };
            Some((format!("{}:{target}{proto}{nth}", svc.to_lowercase()), text))
        })
        .collect()
}

/// True when something accepts connections on the port at 127.0.0.1 or ::1 (where
/// `localhost` resolves first on macOS). Connecting, not binding: a bind from an
/// unsigned binary can raise macOS's firewall prompt, and a probe that binds holds
/// the port for a moment that another start may need.
pub fn in_use(port: u16) -> bool {
    [
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(Ipv6Addr::LOCALHOST),
    ]
    .into_iter()
    .any(|ip| {
        TcpStream::connect_timeout(
            &SocketAddr::new(ip, port),
            std::time::Duration::from_millis(300),
        )
        .is_ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stack::KTRDR;
    use std::collections::HashSet;

    #[test]
    fn allocation_avoids_others_bases_and_held_ports_and_keeps_what_it_gave() {
        let wanted = vec![
            ("PORT_WEB_80".to_string(), 8080),
            ("PORT_DB_5432".to_string(), 5432),
            ("PORT_ALT_80".to_string(), 8180),
        ];
        let none = BTreeMap::new();
        let free = |_: u16| false;
        let a = allocate(&wanted, 1, &none, &BTreeSet::new(), &free);
        // 8180 is the project's own port (ALT): the next one up.
        assert_eq!(a["PORT_WEB_80"], 8181);
        assert_eq!(a["PORT_DB_5432"], 5532);
        assert_eq!(a["PORT_ALT_80"], 8280);
        // Another instance holds 5532 and something listens on 8181.
        let taken: BTreeSet<u16> = [5532].into_iter().collect();
        let b = allocate(&wanted, 1, &none, &taken, &|p| p == 8181);
        assert_eq!(b["PORT_WEB_80"], 8182);
        assert_eq!(b["PORT_DB_5432"], 5533);
        // What it gave before stays, even if it is busy now (its own containers).
        let kept: BTreeMap<String, u16> = [("PORT_WEB_80".to_string(), 9999)].into_iter().collect();
        let c = allocate(&wanted, 1, &kept, &BTreeSet::new(), &|p| p == 9999);
        assert_eq!(c["PORT_WEB_80"], 9999);
        // Near the top: the search continues from 20000; nothing under 1024.
        let high = vec![("PORT_X_1".to_string(), 65500)];
        assert_eq!(
            allocate(&high, 1, &none, &BTreeSet::new(), &free)["PORT_X_1"],
            20000
        );
        // Under 1024: 20000 + 10 × port + slot, stable whatever came first.
        let low = vec![("PORT_DNS_53_UDP".to_string(), 53)];
        assert_eq!(
            allocate(&low, 1, &none, &BTreeSet::new(), &free)["PORT_DNS_53_UDP"],
            20531
        );
        assert_eq!(
            allocate(&low, 3, &none, &BTreeSet::new(), &|p| p == 20533)["PORT_DNS_53_UDP"],
            20534
        );
        // tcp and udp twins of one target: one number.
        let twins = vec![
            ("PORT_DNS_53_UDP".to_string(), 53),
            ("PORT_DNS_53".to_string(), 53),
            ("PORT_TURN_3478".to_string(), 3478),
            ("PORT_TURN_3478_UDP".to_string(), 3478),
        ];
        let t = allocate(&twins, 2, &none, &BTreeSet::new(), &free);
        assert_eq!(t["PORT_DNS_53"], t["PORT_DNS_53_UDP"]);
        assert_eq!((t["PORT_TURN_3478"], t["PORT_TURN_3478_UDP"]), (3678, 3678));
        // local-prod: the project's own ports, when free.
        let prod = allocate(&wanted, 0, &none, &BTreeSet::new(), &free);
        assert_eq!(
            (
                prod["PORT_WEB_80"],
                prod["PORT_DB_5432"],
                prod["PORT_ALT_80"]
            ),
            (8080, 5432, 8180)
        );
        assert_eq!(
            allocate(&low, 0, &none, &BTreeSet::new(), &free)["PORT_DNS_53_UDP"],
            53
        );
        let busy = allocate(&wanted, 0, &none, &BTreeSet::new(), &|p| p == 8080);
        assert_eq!(busy["PORT_WEB_80"], 8081);
        let low_busy = allocate(&low, 0, &none, &BTreeSet::new(), &|p| p == 53);
        assert_eq!(low_busy["PORT_DNS_53_UDP"], 20530);
    }

    #[test]
    fn the_main_port_is_the_front_end_whatever_the_order() {
        let m = |pairs: &[(&str, u16)]| -> BTreeMap<String, u16> {
            pairs.iter().map(|(k, p)| (k.to_string(), *p)).collect()
        };
        assert_eq!(
            main_port(&m(&[
                ("PORT_ADMINER_8080", 1),
                ("PORT_DB_5432", 2),
                ("PORT_WEB_80", 3)
            ])),
            Some(3)
        );
        assert_eq!(
            main_port(&m(&[
                ("PORT_API_8000", 1),
                ("PORT_WEB_3000", 2),
                ("PORT_DB_5432", 3)
            ])),
            Some(2)
        );
        assert_eq!(
            main_port(&m(&[("PORT_DNS_53_UDP", 1), ("PORT_DB_5432", 2)])),
            Some(2)
        );
        assert_eq!(main_port(&BTreeMap::new()), None);
    }

    #[test]
    fn auto_links_name_service_and_target() {
        let l = auto_links(&[
            ("PORT_WEB_80".into(), 8180),
            ("PORT_MY_DB_5432".into(), 5532),
            ("PORT_DNS_53_UDP".into(), 1053),
            ("PORT_WEB_80_N2".into(), 8181),
            ("SOMETHING_ELSE".into(), 1),
        ]);
        assert_eq!(
            l,
            [
                ("web:80".to_string(), "http://localhost:8180".to_string()),
                ("my_db:5432".to_string(), "localhost:5532".to_string()),
                ("dns:53/udp".to_string(), "localhost:1053".to_string()),
                ("web:80#2".to_string(), "http://localhost:8181".to_string()),
            ]
        );
    }

    #[test]
    fn links_fill_in_ports_and_list_prefixed_keys() {
        let l = links(&KTRDR, &for_slot(&KTRDR, 0));
        assert_eq!(l[0], ("API", "http://localhost:8000/api/v1".to_string()));
        assert_eq!(l[1], ("database", "localhost:5432".to_string()));
        let workers = &l.iter().find(|(k, _)| *k == "workers").unwrap().1;
        assert_eq!(workers, "5003, 5004, 5005, 5006, 5007, 5008, 5009, 5010");
        assert_eq!(links(&KTRDR, &[])[0].1, "-");
    }

    /// A worktree's description is the worktree's to edit after its slot was
    /// given: `max_slot = 1` and a base near the top, read for the registry's
    /// slot 3 (or a hand-edited slot 255), gives no port for that key, never an
    /// overflow (a panic in `sandbox list` and the router) or a wrapped-around
    /// port.
    #[test]
    fn a_slot_past_the_tables_top_gives_no_port_and_no_panic() {
        let s = Stack::parse(
            "name = \"x\"\ncompose_file = \"c.yml\"\nmax_slot = 1\n[[ports]]\nkey = \"P\"\nlocal_prod = 18500\nbase = 65534\nstep = 1\n[[ports]]\nkey = \"Q\"\nlocal_prod = 18600\nbase = 18600\nstep = 1\n",
            "kinfra.toml",
        )
        .expect("valid up to its max_slot");
        assert_eq!(for_slot(&s, 1), [("P", 65535), ("Q", 18601)]);
        assert_eq!(for_slot(&s, 3), [("Q", 18603)]);
        assert_eq!(own_for_slot(&s, 255), [("Q", 18855)]);
        assert_eq!(for_slot(&s, 0), [("P", 18500), ("Q", 18600)]);
    }

    fn map(slot: u8) -> std::collections::BTreeMap<&'static str, u16> {
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
