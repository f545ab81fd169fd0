//! Fixed subnets in a compose file: each instance gets free ones of the same size,
//! so two instances never claim one address range.

use super::*;

/// An IPv4 network: base address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub len: u8,
}

impl Cidr {
    /// Pure: `172.28.0.0/16` (the base masked to its length).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = s.trim().split_once('/')?;
        let len: u8 = len.parse().ok().filter(|l| *l <= 32)?;
        let ip: std::net::Ipv4Addr = ip.parse().ok()?;
        Some(Cidr {
            base: u32::from(ip) & Cidr::mask(len),
            len,
        })
    }

    fn mask(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    }

    pub fn size(self) -> u64 {
        1u64 << (32 - u32::from(self.len))
    }

    pub fn overlaps(self, other: Cidr) -> bool {
        let m = Cidr::mask(self.len.min(other.len));
        self.base & m == other.base & m
    }

    /// `addr`, moved from `self` into `to` (same offset), when it lies in `self`.
    pub fn shift(self, addr: &str, to: Cidr) -> Option<String> {
        let a: std::net::Ipv4Addr = addr.trim().parse().ok()?;
        let a = u32::from(a);
        (a & Cidr::mask(self.len) == self.base)
            .then(|| std::net::Ipv4Addr::from(to.base + (a - self.base)).to_string())
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", std::net::Ipv4Addr::from(self.base), self.len)
    }
}

/// Pure: the networks of a resolved document that fix an IPv4 subnet (network key,
/// subnet), external ones left out (they are shared as they are).
pub fn fixed_subnets(doc: &Value) -> Vec<(String, Cidr)> {
    let Some(nets) = doc.get("networks").and_then(Value::as_object) else {
        return Vec::new();
    };
    nets.iter()
        .filter(|(_, n)| !n.as_object().is_some_and(is_external))
        .filter_map(|(k, n)| {
            let cfg = n.pointer("/ipam/config")?.as_array()?;
            let subnet = cfg
                .iter()
                .find_map(|c| c.get("subnet")?.as_str().and_then(Cidr::parse))?;
            Some((k.clone(), subnet))
        })
        .collect()
}

/// Pure: a subnet of `len` bits for an instance, from 10.200.0.0/13 (a range Docker
/// does not hand out by itself), overlapping none of `taken`; the same first-fit
/// order every time, so a kept one stays and new ones are predictable.
pub fn choose_subnet(len: u8, taken: &[Cidr]) -> Option<Cidr> {
    let pool = Cidr {
        base: u32::from(std::net::Ipv4Addr::new(10, 200, 0, 0)),
        len: 13,
    };
    if !(13..=29).contains(&len) {
        return None;
    }
    let step = 1u64 << (32 - u32::from(len));
    let mut b = u64::from(pool.base);
    let end = u64::from(pool.base) + pool.size();
    while b + step <= end {
        let c = Cidr {
            base: u32::try_from(b).ok()?,
            len,
        };
        if !taken.iter().any(|t| t.overlaps(c)) {
            return Some(c);
        }
        b += step;
    }
    None
}

/// A subnet of either family, as the rewrites move it.
pub trait Subnet: Copy + PartialEq + std::fmt::Display {
    /// A service's static address on a network of this family.
    const ADDRESS_KEY: &'static str;
    fn parse_cidr(s: &str) -> Option<Self>;
    /// `addr` moved from this subnet into `to` by the same offset.
    fn shift_addr(self, addr: &str, to: Self) -> Option<String>;
}

impl Subnet for Cidr {
    const ADDRESS_KEY: &'static str = "ipv4_address";
    fn parse_cidr(s: &str) -> Option<Self> {
        Cidr::parse(s)
    }
    fn shift_addr(self, addr: &str, to: Self) -> Option<String> {
        self.shift(addr, to)
    }
}

/// Pure: writes each network's new subnet (key → CIDR) into the document, moving
/// its gateway, IP range and every service's static `ipv4_address` on it by the
/// same offset. Returns (network, from, to) for each.
pub fn rewrite_subnets(
    doc: &mut Value,
    chosen: &BTreeMap<String, Cidr>,
) -> Vec<(String, String, String)> {
    let olds: BTreeMap<String, Cidr> = fixed_subnets(doc).into_iter().collect();
    move_subnets(doc, &olds, chosen)
}

/// Pure, for either family: each network in `chosen` moves from its subnet in
/// `olds`, with its gateway, IP range and every service's static address on it.
pub fn move_subnets<N: Subnet>(
    doc: &mut Value,
    olds: &BTreeMap<String, N>,
    chosen: &BTreeMap<String, N>,
) -> Vec<(String, String, String)> {
    let mut done = Vec::new();
    if let Some(nets) = doc.get_mut("networks").and_then(Value::as_object_mut) {
        for (key, to) in chosen {
            let (Some(from), Some(cfgs)) = (
                olds.get(key).copied(),
                nets.get_mut(key)
                    .and_then(|n| n.pointer_mut("/ipam/config"))
                    .and_then(Value::as_array_mut),
            ) else {
                continue;
            };
            for c in cfgs.iter_mut().filter_map(Value::as_object_mut) {
                if c.get("subnet")
                    .and_then(Value::as_str)
                    .and_then(N::parse_cidr)
                    != Some(from)
                {
                    continue;
                }
                c.insert("subnet".into(), Value::String(to.to_string()));
                for k in ["gateway", "ip_range"] {
                    let moved = c.get(k).and_then(Value::as_str).and_then(|v| {
                        let (addr, len) =
                            v.split_once('/').map_or((v, None), |(a, l)| (a, Some(l)));
                        from.shift_addr(addr, *to).map(|a| match len {
                            Some(l) => format!("{a}/{l}"),
                            None => a,
                        })
                    });
                    if let Some(m) = moved {
                        c.insert(k.into(), Value::String(m));
                    }
                }
            }
            done.push((key.clone(), from.to_string(), to.to_string()));
        }
    }
    move_static_addresses(doc, olds, chosen);
    done
}

/// [`move_subnets`]' services: each static address on a moved network.
fn move_static_addresses<N: Subnet>(
    doc: &mut Value,
    olds: &BTreeMap<String, N>,
    chosen: &BTreeMap<String, N>,
) {
    let Some(services) = doc.get_mut("services").and_then(Value::as_object_mut) else {
        return;
    };
    for svc in services.values_mut() {
        let Some(nets) = svc.get_mut("networks").and_then(Value::as_object_mut) else {
            continue;
        };
        for (key, cfg) in nets.iter_mut() {
            let (Some(from), Some(to), Some(c)) =
                (olds.get(key), chosen.get(key), cfg.as_object_mut())
            else {
                continue;
            };
            let moved = c
                .get(N::ADDRESS_KEY)
                .and_then(Value::as_str)
                .and_then(|a| from.shift_addr(a, *to));
            if let Some(m) = moved {
                c.insert(N::ADDRESS_KEY.into(), Value::String(m));
            }
        }
    }
}
