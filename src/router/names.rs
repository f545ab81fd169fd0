//! Pure: what a request's `Host` names, and the routing table the registry gives.
//! A name is only ever compared with the table's; it never builds a path, a
//! command or an address (every port comes from the registry, every address is
//! 127.0.0.1).

use std::collections::BTreeMap;

use serde::Serialize;

/// What a `Host` header asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `kinfra.localhost`, `localhost` or `127.0.0.1`: the router's own page.
    Page,
    /// `INSTANCE.localhost`: the instance's front end.
    Instance(String),
    /// `SERVICE.INSTANCE.localhost`: that service's published port.
    Service { service: String, instance: String },
    /// A `*.localhost` name of no shape the router serves (`a.b.c.localhost`).
    Unknown(String),
}

/// Why a `Host` is not served at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// No `Host` (HTTP/1.1 requires one).
    Missing,
    /// Not `*.localhost` nor 127.0.0.1: a page on another site that points its
    /// name at 127.0.0.1 (DNS rebinding) sends its own name here.
    Foreign(String),
    /// Not a host name at all (bad characters, empty labels, too long).
    Malformed(String),
}

/// The most a host name may be (RFC 1035).
const MAX_HOST: usize = 253;

/// Pure: a `Host` header's value → what it names.
pub fn parse_host(host: Option<&str>) -> Result<Target, Refused> {
    let raw = host
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(Refused::Missing)?;
    let shown = || raw.chars().take(80).collect::<String>();
    // The port, when given, is digits after the last `:` (no IPv6 literal is served).
    let name = match raw.rsplit_once(':') {
        Some((n, p)) if !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()) => n,
        Some(_) => return Err(Refused::Malformed(shown())),
        None => raw,
    };
    // `foo.localhost.` is the same name, written absolute.
    let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    if name.is_empty()
        || name.len() > MAX_HOST
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
    {
        return Err(Refused::Malformed(shown()));
    }
    if name == "127.0.0.1" || name == "localhost" || name == "kinfra.localhost" {
        return Ok(Target::Page);
    }
    let Some(labels) = name.strip_suffix(".localhost") else {
        return Err(Refused::Foreign(shown()));
    };
    let parts: Vec<&str> = labels.split('.').collect();
    if parts.iter().any(|l| l.is_empty() || l.len() > 63) {
        return Err(Refused::Malformed(shown()));
    }
    Ok(match parts[..] {
        [instance] => Target::Instance(instance.to_string()),
        [service, instance] => Target::Service {
            service: service.to_string(),
            instance: instance.to_string(),
        },
        _ => Target::Unknown(labels.to_string()),
    })
}

/// Pure: a name as compared: lowercase, `_` as `-` (a host name has no `_`, a
/// compose project or service name may).
pub fn form(s: &str) -> String {
    s.to_ascii_lowercase().replace('_', "-")
}

/// Pure: `form(a) == form(b)` without making either (the router compares names
/// on every request).
pub fn same_form(a: &str, b: &str) -> bool {
    let f = |c: u8| {
        if c == b'_' {
            b'-'
        } else {
            c.to_ascii_lowercase()
        }
    };
    a.len() == b.len() && a.bytes().zip(b.bytes()).all(|(x, y)| f(x) == f(y))
}

/// One service port an instance publishes (tcp).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServicePort {
    /// The service as a host name label (`airflow-apiserver`).
    pub service: String,
    /// The container port.
    pub target: u16,
    /// The instance's host port on 127.0.0.1.
    pub port: u16,
}

/// One registered instance the router can reach.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub instance: String,
    pub kind: &'static str,
    /// Its directory, from the registry (where `up` runs when it is woken).
    #[serde(skip)]
    pub path: String,
    pub services: Vec<ServicePort>,
    /// Its front end: the port `INSTANCE.localhost` reaches.
    pub front: Option<u16>,
}

impl Route {
    /// The port `service` reaches: its one port, else its most web-like one.
    pub fn service_port(&self, service: &str) -> Option<u16> {
        self.services
            .iter()
            .filter(|s| same_form(&s.service, service))
            .min_by_key(|s| (web_rank(s.target), s.target))
            .map(|s| s.port)
    }
}

/// Pure: how likely a container port is a web front end (lower: more).
fn web_rank(target: u16) -> u8 {
    match target {
        80 | 443 => 0,
        3000 | 4200 | 5000 | 5173 | 8000..=8099 | 8443 | 8888 => 1,
        _ => 5,
    }
}

/// Pure: `PORT_<FORM>_<TARGET>` (tcp, first entry) → (service label, target); udp
/// ports and second entries of one target are not routed.
pub fn parse_key(key: &str) -> Option<(String, u16)> {
    let rest = key.strip_prefix(crate::tools::model::PORT_PREFIX)?;
    let (svc, target) = rest.rsplit_once('_')?;
    let target: u16 = target.parse().ok()?;
    if svc.is_empty() || target == 0 {
        return None;
    }
    Some((form(svc), target))
}

/// What the router serves of an instance whose description fixes its ports (a
/// port table, KTRDR's): kinfra chose none of them, they are in its `.env.sandbox`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    pub services: Vec<ServicePort>,
    pub front: Option<u16>,
    /// Each port's key, the project's own port (the table's slot 0: what `kinfra
    /// checkout` serves) and the instance's.
    pub keys: Vec<(String, u16, u16)>,
}

/// Pure: [`Declared`] from the stack's port table and the instance's ports (the
/// table's, at its slot). Each port of the table that is the instance's own (a shared
/// service's fixed port is not) is named by its key without the stack's prefix and
/// the word PORT (`KTRDR_API_PORT` → `api`, `KTRDR_WORKER_PORT_1` → `worker-1`),
/// aimed at the project's own port; the front end is the stack's API port.
pub fn declared(stack: &crate::stack::Stack, ports: &[(String, u16)]) -> Declared {
    let mut d = Declared::default();
    for rule in stack.ports.iter().filter(|r| !r.fixed) {
        let Some((_, port)) = ports.iter().find(|(k, p)| *k == rule.key && *p != 0) else {
            continue;
        };
        let bare = rule
            .key
            .strip_prefix(&stack.env_prefix)
            .unwrap_or(&rule.key);
        let label: Vec<&str> = bare
            .split('_')
            .filter(|w| !w.is_empty() && !w.eq_ignore_ascii_case("port"))
            .collect();
        if label.is_empty() {
            continue;
        }
        d.services.push(ServicePort {
            service: form(&label.join("-")),
            target: rule.slot0,
            port: *port,
        });
        d.keys.push((rule.key.clone(), rule.slot0, *port));
        if rule.key == stack.api_port_key {
            d.front = Some(*port);
        }
    }
    d.services
        .sort_by(|a, b| (&a.service, a.target).cmp(&(&b.service, b.target)));
    d
}

/// Pure: the routing table from the registry (instance → its chosen ports), with
/// `declared` for the instances whose description fixes their ports.
pub fn table(
    reg: &crate::state::registry::Contents,
    declared: &BTreeMap<String, Declared>,
) -> Vec<Route> {
    let chosen = &reg.kinfra.ports;
    reg.local_prod
        .iter()
        .chain(reg.instances.values())
        .map(|e| {
            let ports: BTreeMap<String, u16> =
                chosen.get(&e.instance_id).cloned().unwrap_or_default();
            let mut services: Vec<ServicePort> = ports
                .iter()
                .filter_map(|(k, p)| {
                    let (service, target) = parse_key(k)?;
                    (*p != 0).then_some(ServicePort {
                        service,
                        target,
                        port: *p,
                    })
                })
                .collect();
            services.sort_by(|a, b| (&a.service, a.target).cmp(&(&b.service, b.target)));
            let mut front = crate::stack::ports::main_port(&ports);
            if ports.is_empty()
                && let Some(d) = declared.get(&e.instance_id)
            {
                // A table is a description's, which anyone can write: a sandbox's
                // port that another instance has too (its table giving it
                // local-prod's 8000) is not routed for it; local-prod keeps its own.
                let local_prod = reg
                    .local_prod
                    .as_ref()
                    .is_some_and(|lp| lp.instance_id == e.instance_id);
                let elsewhere = |port: u16| {
                    !local_prod
                        && (chosen
                            .iter()
                            .any(|(id, m)| *id != e.instance_id && m.values().any(|p| *p == port))
                            || declared.iter().any(|(id, o)| {
                                *id != e.instance_id && o.services.iter().any(|s| s.port == port)
                            }))
                };
                services = d
                    .services
                    .iter()
                    .filter(|s| !elsewhere(s.port))
                    .cloned()
                    .collect();
                front = d.front.filter(|p| !elsewhere(*p));
            }
            Route {
                instance: e.instance_id.clone(),
                kind: crate::instance::Kind::of_slot(e.slot).label(),
                path: e.path.clone(),
                front,
                services,
            }
        })
        .collect()
}

/// Pure: the one instance of `ids` named `name` as host names write it; none
/// when two have that name (`shop_a` and `shop-a`): a project's name comes from
/// its repository, and one must not take over another's name (its cookies, its
/// checkout).
pub fn the_one<'a, I: AsRef<str>>(ids: &'a [I], name: &str) -> Option<&'a I> {
    let mut found = ids.iter().filter(|i| same_form(i.as_ref(), name));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Pure: the instance a target names in `table`.
pub fn route_of<'t>(table: &'t [Route], target: &Target) -> Option<&'t Route> {
    let i = match target {
        Target::Instance(i) | Target::Service { instance: i, .. } => i,
        Target::Page | Target::Unknown(_) => return None,
    };
    let mut found = table.iter().filter(|r| same_form(&r.instance, i));
    let first = found.next()?;
    found.next().is_none().then_some(first)
}

/// Pure: the port a target reaches in `table`; `None`: no such name.
pub fn resolve(table: &[Route], target: &Target) -> Option<u16> {
    resolve_route(table, target).map(|(_, p)| p)
}

/// Pure: the instance a target names and the port it reaches (one look-up per request).
pub fn resolve_route<'t>(table: &'t [Route], target: &Target) -> Option<(&'t Route, u16)> {
    let route = route_of(table, target)?;
    let port = match target {
        Target::Instance(_) => route.front,
        Target::Service { service, .. } => route.service_port(service),
        Target::Page | Target::Unknown(_) => None,
    }?;
    Some((route, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KTRDR's port table: slot 1's ports by a name made from each key, aimed at
    /// the project's own port; the shared observability's fixed ports are not the
    /// instance's; the front end is the API port.
    #[test]
    fn a_port_tables_ports_are_named_from_their_keys() {
        let stack = &*crate::stack::KTRDR_2026;
        let ports: Vec<(String, u16)> = crate::stack::ports::for_slot(stack, 1)
            .into_iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect();
        let d = declared(stack, &ports);
        let api = d.services.iter().find(|s| s.service == "api").expect("api");
        assert_eq!((api.target, api.port), (8000, 8001));
        assert_eq!(d.front, Some(8001));
        assert!(d.services.iter().any(|s| s.service == "worker-1"), "{d:?}");
        assert!(
            d.services.iter().any(|s| s.service == "assessment-agent"),
            "{d:?}"
        );
        for shared in ["jaeger-ui", "grafana", "prometheus"] {
            assert!(
                !d.services.iter().any(|s| s.service == shared),
                "{shared}: {d:?}"
            );
        }
        assert!(
            d.keys.contains(&("KTRDR_API_PORT".to_string(), 8000, 8001)),
            "{d:?}"
        );
        // A port of 0 (not published) and a key the file lacks are left out.
        let some = [
            ("KTRDR_API_PORT".to_string(), 0),
            ("KTRDR_DB_PORT".to_string(), 5433),
        ];
        let d = declared(stack, &some);
        assert_eq!(d.services.len(), 1, "{d:?}");
        assert_eq!(d.front, None);
        // The table serves them by name, for an instance with no chosen ports only.
        let mut reg = crate::state::registry::Contents::default();
        reg.instances.insert(
            "ktrdr--a".into(),
            crate::state::registry::Entry {
                instance_id: "ktrdr--a".into(),
                slot: 1,
                path: "/w/ktrdr--a".into(),
                created_at: String::new(),
                is_worktree: true,
                parent_repo: None,
            },
        );
        let t = table(
            &reg,
            &BTreeMap::from([("ktrdr--a".to_string(), declared(stack, &ports))]),
        );
        assert_eq!(t[0].service_port("api"), Some(8001));
        assert_eq!(t[0].front, Some(8001));

        // A table (anyone's to write) giving the sandbox local-prod's API port: the
        // name of the sandbox never reaches local-prod; local-prod keeps its own.
        reg.local_prod = Some(crate::state::registry::Entry {
            instance_id: "ktrdr".into(),
            slot: 0,
            path: "/w/ktrdr".into(),
            created_at: String::new(),
            is_worktree: false,
            parent_repo: None,
        });
        let prod_ports: Vec<(String, u16)> = crate::stack::ports::own_for_slot(stack, 0)
            .into_iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect();
        let mut hostile = ports.clone();
        for (k, p) in &mut hostile {
            if k == "KTRDR_API_PORT" {
                *p = 8000;
            }
        }
        let t = table(
            &reg,
            &BTreeMap::from([
                ("ktrdr--a".to_string(), declared(stack, &hostile)),
                ("ktrdr".to_string(), declared(stack, &prod_ports)),
            ]),
        );
        let route = |id: &str| t.iter().find(|r| r.instance == id).expect("route");
        assert_eq!(route("ktrdr--a").service_port("api"), None);
        assert_eq!(route("ktrdr--a").front, None);
        assert_eq!(route("ktrdr--a").service_port("db"), Some(5433));
        assert_eq!(route("ktrdr").service_port("api"), Some(8000));
    }

    #[test]
    fn host_names_the_page_an_instance_or_a_service() {
        assert_eq!(parse_host(Some("kinfra.localhost:7355")), Ok(Target::Page));
        assert_eq!(parse_host(Some("127.0.0.1:7355")), Ok(Target::Page));
        assert_eq!(parse_host(Some("LOCALHOST")), Ok(Target::Page));
        assert_eq!(
            parse_host(Some("Shop-Feat.localhost:7355")),
            Ok(Target::Instance("shop-feat".into()))
        );
        assert_eq!(
            parse_host(Some("web.shop-feat.localhost.:7355")),
            Ok(Target::Service {
                service: "web".into(),
                instance: "shop-feat".into()
            })
        );
        assert_eq!(
            parse_host(Some("a.b.c.localhost")),
            Ok(Target::Unknown("a.b.c".into()))
        );
    }

    #[test]
    fn foreign_and_malformed_hosts_are_refused() {
        assert_eq!(parse_host(None), Err(Refused::Missing));
        assert_eq!(parse_host(Some("  ")), Err(Refused::Missing));
        for foreign in [
            "evil.com",
            "evil.com:7355",
            "localhost.evil.com",
            "x.localhost.evil.com",
            "127.0.0.2",
            "0.0.0.0",
            "notlocalhost",
            "xlocalhost",
        ] {
            assert!(
                matches!(parse_host(Some(foreign)), Err(Refused::Foreign(_))),
                "{foreign}"
            );
        }
        for bad in [
            "..localhost",
            "a..localhost",
            ".localhost",
            "[::1]:7355",
            "web.x.localhost:port",
            "web.x.localhost:123456",
            "a/b.localhost",
            "a b.localhost",
            "$(id).localhost",
            "a%2fb.localhost",
            "x.localhost\u{0}",
            "é.localhost",
        ] {
            assert!(
                matches!(parse_host(Some(bad)), Err(Refused::Malformed(_))),
                "{bad}"
            );
        }
        let long = format!("{}.localhost", "a".repeat(300));
        assert!(matches!(
            parse_host(Some(&long)),
            Err(Refused::Malformed(_))
        ));
        let long_label = format!("{}.localhost", "a".repeat(64));
        assert!(matches!(
            parse_host(Some(&long_label)),
            Err(Refused::Malformed(_))
        ));
    }

    fn contents() -> crate::state::registry::Contents {
        let mut reg = crate::state::registry::Contents::default();
        let entry = |id: &str, slot: u8| crate::state::registry::Entry {
            instance_id: id.into(),
            slot,
            path: format!("/w/{id}"),
            created_at: String::new(),
            is_worktree: slot > 0,
            parent_repo: None,
        };
        reg.instances.insert("shop_a".into(), entry("shop_a", 1));
        reg.local_prod = Some(entry("shop", 0));
        reg.kinfra.ports.insert(
            "shop_a".into(),
            [
                ("PORT_WEB_80".to_string(), 20801u16),
                ("PORT_DB_5432".to_string(), 5532),
                ("PORT_AIRFLOW_APISERVER_8080".to_string(), 8180),
                ("PORT_AIRFLOW_APISERVER_9000".to_string(), 9100),
                ("PORT_DNS_53_UDP".to_string(), 20531),
                ("KTRDR_API_PORT".to_string(), 8001),
            ]
            .into_iter()
            .collect(),
        );
        reg
    }

    #[test]
    fn table_comes_from_the_registry() {
        let t = table(&contents(), &BTreeMap::new());
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].instance, "shop");
        assert_eq!(t[0].kind, "local-prod");
        assert!(t[0].services.is_empty());
        let a = &t[1];
        assert_eq!(a.kind, "sandbox");
        // udp and non-kinfra keys are not routed.
        let names: Vec<(&str, u16)> = a
            .services
            .iter()
            .map(|s| (s.service.as_str(), s.target))
            .collect();
        assert_eq!(
            names,
            vec![
                ("airflow-apiserver", 8080),
                ("airflow-apiserver", 9000),
                ("db", 5432),
                ("web", 80)
            ]
        );
        assert_eq!(a.front, Some(20801));
        let svc = |s: &str, i: &str| Target::Service {
            service: s.into(),
            instance: i.into(),
        };
        assert_eq!(resolve(&t, &svc("web", "shop-a")), Some(20801));
        assert_eq!(resolve(&t, &svc("db", "SHOP_A")), Some(5532));
        // The most web-like of a service's ports.
        assert_eq!(resolve(&t, &svc("airflow_apiserver", "shop-a")), Some(8180));
        assert_eq!(resolve(&t, &Target::Instance("shop-a".into())), Some(20801));
        assert_eq!(resolve(&t, &svc("nosuch", "shop-a")), None);
        assert_eq!(resolve(&t, &svc("web", "nosuch")), None);
        assert_eq!(resolve(&t, &Target::Instance("shop".into())), None);
        assert_eq!(resolve(&t, &Target::Unknown("a.b.c".into())), None);
        // Two instances of one host name (`shop_a`, `shop-a`): neither is reached.
        let mut reg = contents();
        let mut twin = reg.instances["shop_a"].clone();
        twin.instance_id = "shop-a".into();
        reg.instances.insert("shop-a".into(), twin);
        reg.kinfra.ports.insert(
            "shop-a".into(),
            [("PORT_WEB_80".to_string(), 20901u16)].into(),
        );
        let t = table(&reg, &BTreeMap::new());
        assert_eq!(resolve(&t, &svc("web", "shop-a")), None);
        assert_eq!(route_of(&t, &Target::Instance("SHOP_A".into())), None);
        assert_eq!(the_one(&["a_b", "a-b", "c"], "A-B"), None);
        assert_eq!(the_one(&["a_b", "c"], "a-b"), Some(&"a_b"));
    }

    #[test]
    fn names_compare_as_host_names_write_them() {
        for (a, b) in [
            ("shop_a", "SHOP-A"),
            ("web", "web"),
            ("a-b", "a_b"),
            ("", ""),
        ] {
            assert!(same_form(a, b), "{a} {b}");
            assert_eq!(form(a), form(b));
        }
        for (a, b) in [("shop", "shop-a"), ("ab", "a-"), ("é", "É"), ("a.b", "a-b")] {
            assert!(!same_form(a, b), "{a} {b}");
            assert_ne!(form(a), form(b));
        }
    }

    #[test]
    fn keys_parse_or_are_left_out() {
        assert_eq!(parse_key("PORT_WEB_80"), Some(("web".into(), 80)));
        assert_eq!(parse_key("PORT_WEB_80_N2"), None);
        assert_eq!(parse_key("PORT_DNS_53_UDP"), None);
        assert_eq!(parse_key("PORT__80"), None);
        assert_eq!(parse_key("PORT_WEB_0"), None);
        assert_eq!(parse_key("API_PORT"), None);
    }
}
