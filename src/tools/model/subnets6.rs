//! Fixed IPv6 subnets (`enable_ipv6` with a v6 `ipam.config` entry): as with v4
//! ([`super::subnets`]), two instances keeping one range cannot both create their
//! network, so each gets its own of the same size, from a ULA range (fd00::/8, the
//! block meant for local use) that kinfra keeps to itself, with every static
//! `ipv6_address` moved by the same offset.

use std::net::Ipv6Addr;

use super::*;

/// An IPv6 network: base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr6 {
    pub base: u128,
    pub len: u8,
}

/// kinfra's ULA pool: `fd6b:6966::/32` ("kf" in its bytes); nothing hands out
/// addresses from it by itself.
pub const POOL6: Cidr6 = Cidr6 {
    base: 0xfd6b_6966u128 << 96,
    len: 32,
};

impl Cidr6 {
    /// Pure: `fd12:3456::/64` (the base masked to its length); v4 gives `None`.
    pub fn parse(s: &str) -> Option<Cidr6> {
        let (ip, len) = s.trim().split_once('/')?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 128)?;
        let ip: Ipv6Addr = ip.parse().ok()?;
        Some(Cidr6 {
            base: u128::from(ip) & Cidr6::mask(len),
            len,
        })
    }

    fn mask(len: u8) -> u128 {
        if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        }
    }

    pub fn overlaps(self, other: Cidr6) -> bool {
        let m = Cidr6::mask(self.len.min(other.len));
        self.base & m == other.base & m
    }

    /// The first address after the network.
    fn end(self) -> Option<u128> {
        self.base
            .checked_add(1u128.checked_shl(128 - u32::from(self.len))?)
    }

    /// `addr`, moved from `self` into `to` (same offset), when it lies in `self`.
    pub fn shift(self, addr: &str, to: Cidr6) -> Option<String> {
        let a = u128::from(addr.trim().parse::<Ipv6Addr>().ok()?);
        (a & Cidr6::mask(self.len) == self.base)
            .then(|| Ipv6Addr::from(to.base + (a - self.base)).to_string())
    }
}

impl std::fmt::Display for Cidr6 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv6Addr::from(self.base), self.len)
    }
}

/// Pure: the networks of a resolved document that fix an IPv6 subnet (network key,
/// subnet), external ones left out (they are shared as they are).
pub fn fixed_subnets6(doc: &Value) -> Vec<(String, Cidr6)> {
    let Some(nets) = doc.get("networks").and_then(Value::as_object) else {
        return Vec::new();
    };
    nets.iter()
        .filter(|(_, n)| !n.as_object().is_some_and(is_external))
        .filter_map(|(k, n)| {
            let cfg = n.pointer("/ipam/config")?.as_array()?;
            let subnet = cfg
                .iter()
                .find_map(|c| c.get("subnet")?.as_str().and_then(Cidr6::parse))?;
            Some((k.clone(), subnet))
        })
        .collect()
}

/// Pure: a subnet of `len` bits from [`POOL6`] overlapping none of `taken`; first
/// fit, so a kept one stays and new ones are predictable. `None` when `len` is
/// wider than the pool or every place is taken.
pub fn choose_subnet6(len: u8, taken: &[Cidr6]) -> Option<Cidr6> {
    if !(POOL6.len..=124).contains(&len) {
        return None;
    }
    let end = POOL6.end()?;
    let mut b = POOL6.base;
    while b < end {
        let c = Cidr6 { base: b, len };
        match taken.iter().find(|t| t.overlaps(c)) {
            None => return Some(c),
            // Past whichever of the two is larger: a taken /40 skips many /64s.
            Some(t) => {
                let wider = if t.len < len { *t } else { c };
                b = Cidr6 {
                    base: wider.base & Cidr6::mask(wider.len),
                    len: wider.len,
                }
                .end()?;
            }
        }
    }
    None
}

impl super::subnets::Subnet for Cidr6 {
    const ADDRESS_KEY: &'static str = "ipv6_address";
    fn parse_cidr(s: &str) -> Option<Self> {
        Cidr6::parse(s)
    }
    fn shift_addr(self, addr: &str, to: Self) -> Option<String> {
        self.shift(addr, to)
    }
}

/// Pure: writes each network's new v6 subnet (key → CIDR) into the document,
/// moving its gateway, IP range and every service's static `ipv6_address` on it by
/// the same offset. Returns (network, from, to) for each.
pub fn rewrite_subnets6(
    doc: &mut Value,
    chosen: &BTreeMap<String, Cidr6>,
) -> Vec<(String, String, String)> {
    let olds: BTreeMap<String, Cidr6> = fixed_subnets6(doc).into_iter().collect();
    super::subnets::move_subnets(doc, &olds, chosen)
}

/// The driver option that fixes a bridge network's Linux device name.
pub const BRIDGE_NAME_OPT: &str = "com.docker.network.bridge.name";

/// Pure: the bridge device name of an instance's network: `kf` and 13 hex digits
/// of a hash of the instance and the network's key (15 characters, the kernel's
/// limit for an interface name); the same every time, and another instance's
/// differs.
pub fn bridge_name(instance: &str, network: &str) -> String {
    use std::hash::Hasher;
    let mut h = crate::support::units::Fnv64::default();
    h.write(format!("{instance}\0{network}").as_bytes());
    format!("kf{:013x}", h.finish() & 0x000f_ffff_ffff_ffff)
}

/// Pure: every non-external network fixing its bridge device name
/// (`driver_opts: com.docker.network.bridge.name`) gets the instance's own
/// ([`bridge_name`]): a second instance keeping it could not create its network.
/// Returns (network, from, to) for each.
pub fn rewrite_bridge_names(doc: &mut Value, instance: &str) -> Vec<(String, String, String)> {
    let mut done = Vec::new();
    let Some(nets) = doc.get_mut("networks").and_then(Value::as_object_mut) else {
        return done;
    };
    for (key, net) in nets.iter_mut() {
        let Some(n) = net.as_object_mut() else {
            continue;
        };
        if is_external(n) {
            continue;
        }
        let Some(opts) = n.get_mut("driver_opts").and_then(Value::as_object_mut) else {
            continue;
        };
        let Some(from) = opts.get(BRIDGE_NAME_OPT).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        }) else {
            continue;
        };
        let to = bridge_name(instance, key);
        opts.insert(BRIDGE_NAME_OPT.into(), Value::String(to.clone()));
        done.push((key.clone(), from, to));
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docker compose config --format json` (v2.26) of a network fixing both
    /// subnets, a static address of each family and its bridge device name.
    const V2: &str = r#"{
  "name": "x",
  "networks": {
    "back": {
      "name": "x_back",
      "driver_opts": {"com.docker.network.bridge.name": "br-files"},
      "ipam": {"config": [
        {"subnet": "172.31.9.0/24"},
        {"subnet": "fd12:3456:789a:1::/64", "gateway": "fd12:3456:789a:1::1"}
      ]},
      "enable_ipv6": true
    },
    "team": {"name": "team", "external": true,
      "driver_opts": {"com.docker.network.bridge.name": "br-team"},
      "ipam": {"config": [{"subnet": "fd99::/64"}]}}
  },
  "services": {
    "db": {"image": "busybox:1.35", "networks": {"back": {
      "ipv4_address": "172.31.9.10", "ipv6_address": "fd12:3456:789a:1::10"}}},
    "web": {"image": "busybox:1.35", "networks": {"back": null},
      "ports": [{"mode": "ingress", "target": 80, "published": "18830", "protocol": "tcp"}]}
  }
}"#;

    /// `docker-compose config` (v1.29) of the same file.
    const V1: &str = "networks:
  back:
    driver_opts:
      com.docker.network.bridge.name: br-files
    enable_ipv6: true
    ipam:
      config:
      - subnet: 172.31.9.0/24
      - gateway: fd12:3456:789a:1::1
        subnet: fd12:3456:789a:1::/64
services:
  db:
    image: busybox:1.35
    networks:
      back:
        ipv4_address: 172.31.9.10
        ipv6_address: fd12:3456:789a:1::10
  web:
    image: busybox:1.35
    networks:
      back: null
    ports:
    - published: 18830
      target: 80
version: '3.9'
";

    fn c6(s: &str) -> Cidr6 {
        Cidr6::parse(s).unwrap()
    }

    #[test]
    fn v6_subnets_and_static_addresses_move_together_on_both_variants() {
        for text in [V2, V1] {
            let mut doc = parse(text).unwrap();
            assert_eq!(
                fixed_subnets6(&doc),
                vec![("back".to_string(), c6("fd12:3456:789a:1::/64"))],
                "the external network is shared as it is"
            );
            let to = choose_subnet6(64, &[]).unwrap();
            assert_eq!(to.to_string(), "fd6b:6966::/64");
            let chosen: BTreeMap<String, Cidr6> = [("back".to_string(), to)].into();
            let done = rewrite_subnets6(&mut doc, &chosen);
            assert_eq!(
                done,
                vec![(
                    "back".into(),
                    "fd12:3456:789a:1::/64".into(),
                    "fd6b:6966::/64".into()
                )]
            );
            let cfg = doc.pointer("/networks/back/ipam/config").unwrap();
            assert_eq!(cfg[0]["subnet"], "172.31.9.0/24", "v4 is the v4 rewrite's");
            assert_eq!(cfg[1]["subnet"], "fd6b:6966::/64");
            assert_eq!(cfg[1]["gateway"], "fd6b:6966::1");
            let db = doc.pointer("/services/db/networks/back").unwrap();
            assert_eq!(db["ipv6_address"], "fd6b:6966::10");
            assert_eq!(db["ipv4_address"], "172.31.9.10");
            assert_eq!(doc.pointer("/networks/back/enable_ipv6").unwrap(), true);
        }
    }

    #[test]
    fn the_v4_reading_ignores_v6_and_the_v6_reading_ignores_v4() {
        let doc = parse(V2).unwrap();
        let v4 = fixed_subnets(&doc);
        assert_eq!(v4.len(), 1);
        assert_eq!(v4[0].1.to_string(), "172.31.9.0/24");
        assert_eq!(Cidr6::parse("172.31.9.0/24"), None);
        assert_eq!(Cidr::parse("fd12::/64"), None);
    }

    #[test]
    fn a_v6_subnet_avoids_the_engines_and_other_instances() {
        let taken = [c6("fd6b:6966::/64"), c6("fd6b:6966:0:1::/64")];
        assert_eq!(
            choose_subnet6(64, &taken).unwrap().to_string(),
            "fd6b:6966:0:2::/64"
        );
        // A wide taken range is skipped at once, not /64 by /64.
        let wide = [c6("fd6b:6966::/34")];
        assert_eq!(
            choose_subnet6(64, &wide).unwrap().to_string(),
            "fd6b:6966:4000::/64"
        );
        // A narrower request inside a taken one's neighbour.
        let small = [c6("fd6b:6966::/120")];
        assert_eq!(
            choose_subnet6(112, &small).unwrap().to_string(),
            "fd6b:6966::1:0/112"
        );
        assert_eq!(choose_subnet6(16, &[]), None, "wider than the pool");
        assert_eq!(choose_subnet6(128, &[]), None);
        assert_eq!(choose_subnet6(32, &[c6("fd6b:6966:1::/48")]), None);
    }

    #[test]
    fn hostile_v6_values_are_left_alone() {
        for s in [
            "",
            "/",
            "fd::/129",
            "fd::/-1",
            "zz::/64",
            "fd::/64/64",
            "::/0",
        ] {
            let _ = Cidr6::parse(s);
        }
        assert_eq!(c6("::/0").to_string(), "::/0");
        let from = c6("fd12::/64");
        assert_eq!(from.shift("fd13::1", c6("fd6b:6966::/64")), None);
        assert_eq!(from.shift("not an address", c6("fd6b:6966::/64")), None);
    }

    #[test]
    fn bridge_names_are_the_instances_own_and_fit_the_kernel() {
        for text in [V2, V1] {
            let mut doc = parse(text).unwrap();
            let done = rewrite_bridge_names(&mut doc, "x--a");
            assert_eq!(done.len(), 1, "the external network keeps its own");
            let (net, from, to) = &done[0];
            assert_eq!((net.as_str(), from.as_str()), ("back", "br-files"));
            assert_eq!(
                doc.pointer("/networks/back/driver_opts/com.docker.network.bridge.name")
                    .unwrap(),
                to.as_str()
            );
            if let Some(team) =
                doc.pointer("/networks/team/driver_opts/com.docker.network.bridge.name")
            {
                assert_eq!(team, "br-team");
            } else {
                assert_eq!(text, V1, "only the v1 capture has no external network");
            }
        }
        let a = bridge_name("x--a", "back");
        assert_eq!(a.len(), 15);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(a, bridge_name("x--a", "back"), "deterministic");
        assert_ne!(a, bridge_name("x--b", "back"));
        assert_ne!(a, bridge_name("x--a", "front"));
    }
}
