//! `kinfra url`'s and MCP `urls`' answer: each of an instance's links, direct
//! (its own port) and routed (its name through the router), one document.

use std::collections::BTreeMap;

use serde::Serialize;

use super::names::{self, Route, ServicePort};
use crate::instance::Instance;
use crate::stack::Stack;
use crate::state::context::Context;

/// One link of an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Url {
    /// Its own port: `http://localhost:18580`.
    pub direct: String,
    /// Through the router: `http://web.shop-a.localhost:7355/`; none for a port the
    /// router does not route (not web, udp, a second port of a service).
    pub routed: Option<String>,
}

/// The router's port: the running one's, else the one it would take.
pub fn router_port(ctx: &Context) -> u16 {
    super::lifecycle::status(ctx)
        .port
        .unwrap_or_else(super::lifecycle::wanted_port)
}

/// Every link of `inst` by its lowercase label.
pub fn of(ctx: &Context, stack: &Stack, inst: &Instance) -> BTreeMap<String, Url> {
    if !stack.auto_ports {
        return pair_table(
            &inst.links(stack),
            inst.id(),
            &names::declared(stack, &inst.env.ports),
            router_port(ctx),
        );
    }
    pair(
        &inst.links(stack),
        inst.id(),
        &inst.env.ports,
        router_port(ctx),
    )
}

/// Pure: [`pair`] for a port table (KTRDR's links are labelled `API`, `database`):
/// an HTTP link to one of the instance's ports is routed by that port's name,
/// with the link's path (`http://api.ktrdr--a.localhost:7355/api/v1`).
pub fn pair_table(
    links: &[(String, String)],
    instance: &str,
    declared: &names::Declared,
    router_port: u16,
) -> BTreeMap<String, Url> {
    links
        .iter()
        .map(|(label, direct)| {
            let routed = direct.strip_prefix("http://localhost:").and_then(|rest| {
                let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let port: u16 = port.parse().ok()?;
                let sp = declared.services.iter().find(|s| s.port == port)?;
                Some(format!(
                    "http://{}.{}.localhost:{router_port}{}",
                    sp.service,
                    names::form(instance),
                    if path.is_empty() { "/" } else { path }
                ))
            });
            (
                label.to_lowercase(),
                Url {
                    direct: direct.clone(),
                    routed,
                },
            )
        })
        .collect()
}

/// Pure: links (label, direct text) with the routed URL where the router's name
/// for that service reaches exactly that port.
pub fn pair(
    links: &[(String, String)],
    instance: &str,
    ports: &[(String, u16)],
    router_port: u16,
) -> BTreeMap<String, Url> {
    let route = Route {
        instance: instance.to_string(),
        kind: "",
        path: String::new(),
        services: ports
            .iter()
            .filter_map(|(k, p)| {
                let (service, target) = names::parse_key(k)?;
                Some(ServicePort {
                    service,
                    target,
                    port: *p,
                })
            })
            .collect(),
        front: None,
    };
    links
        .iter()
        .map(|(label, direct)| {
            let routed = label
                .split_once(':')
                .filter(|_| direct.starts_with("http://"))
                .and_then(|(svc, target)| {
                    let target: u16 = target.parse().ok()?;
                    let sp = route
                        .services
                        .iter()
                        .find(|s| s.service == names::form(svc) && s.target == target)?;
                    (route.service_port(svc) == Some(sp.port)).then(|| {
                        format!(
                            "http://{}.{}.localhost:{router_port}/",
                            sp.service,
                            names::form(instance)
                        )
                    })
                });
            (
                label.to_lowercase(),
                Url {
                    direct: direct.clone(),
                    routed,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KTRDR's links (a port table): the API link is routed by its port's name with
    /// its path; a link that is not HTTP, or to a port that is not the instance's
    /// own (a shared service's), is not.
    #[test]
    fn a_port_tables_http_links_are_routed_with_their_path() {
        let stack = &*crate::stack::KTRDR_2026;
        let ports: Vec<(String, u16)> = crate::stack::ports::for_slot(stack, 2)
            .into_iter()
            .map(|(k, p)| (k.to_string(), p))
            .collect();
        let links: Vec<(String, String)> = [
            ("API", "http://localhost:8002/api/v1"),
            ("database", "localhost:5434"),
            ("Grafana", "http://localhost:43000"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect();
        let u = pair_table(&links, "ktrdr--b", &names::declared(stack, &ports), 7355);
        assert_eq!(
            u["api"].routed.as_deref(),
            Some("http://api.ktrdr--b.localhost:7355/api/v1")
        );
        assert_eq!(u["api"].direct, "http://localhost:8002/api/v1");
        assert_eq!(u["database"].routed, None);
        assert_eq!(u["grafana"].routed, None);
    }

    #[test]
    fn routed_beside_direct_where_the_name_reaches_that_port() {
        let links: Vec<(String, String)> = [
            ("web:80", "http://localhost:20801"),
            ("db:5432", "localhost:5532"),
            ("api:8000", "http://localhost:8100"),
            ("api:9000", "http://localhost:9100"),
            ("dns:53/udp", "localhost:20531"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_string(), (*b).to_string()))
        .collect();
        let ports: Vec<(String, u16)> = [
            ("PORT_WEB_80", 20801),
            ("PORT_DB_5432", 5532),
            ("PORT_API_8000", 8100),
            ("PORT_API_9000", 9100),
            ("PORT_DNS_53_UDP", 20531),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_string(), *b))
        .collect();
        let u = pair(&links, "shop_a", &ports, 7355);
        assert_eq!(
            u["web:80"].routed.as_deref(),
            Some("http://web.shop-a.localhost:7355/")
        );
        assert_eq!(u["web:80"].direct, "http://localhost:20801");
        assert_eq!(
            u["api:8000"].routed.as_deref(),
            Some("http://api.shop-a.localhost:7355/")
        );
        // Not web, or not the port the service's name reaches.
        assert_eq!(u["db:5432"].routed, None);
        assert_eq!(u["api:9000"].routed, None);
        assert_eq!(u["dns:53/udp"].routed, None);
        assert_eq!(u.len(), 5);
    }
}
