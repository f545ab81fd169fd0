//! The sandbox's own IPv6 subnets and bridge device names, beside the IPv4
//! subnets of [`super::subnets`]: chosen, recorded under the registry lock and
//! written into the resolved copy.

use std::collections::BTreeMap;

use crate::instance::error::{Error, Result};
use crate::state::context::Context;
use crate::tools::model::{self, Cidr6};

/// The suffix of a v6 record's key in the registry's per-instance subnet map (a
/// network with both families has one record of each; `@` is never in a compose
/// network key).
const V6: &str = "@v6";

/// Makes the document's fixed IPv6 subnets and bridge device names the sandbox's
/// own, and notes each in `iso`.
pub(super) fn isolate(
    ctx: &Context,
    id: &str,
    doc: &mut serde_json::Value,
    iso: &mut model::Isolation,
) -> Result<()> {
    iso.bridges = model::rewrite_bridge_names(doc, id);
    let fixed = model::fixed_subnets6(doc);
    if !fixed.is_empty() {
        let chosen = subnets6(ctx, id, &fixed)?;
        iso.subnets6 = model::rewrite_subnets6(doc, &chosen);
    }
    Ok(())
}

/// IPv6 subnets for the networks that fix one: kept when recorded, else the first
/// in kinfra's ULA pool that no engine network and no other instance uses.
fn subnets6(ctx: &Context, id: &str, fixed: &[(String, Cidr6)]) -> Result<BTreeMap<String, Cidr6>> {
    let engine: Vec<Cidr6> = crate::tools::docker::network_subnets()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| Cidr6::parse(s))
        .collect();
    ctx.registry().update_with(|c| {
        let kept: BTreeMap<String, Cidr6> = c
            .kinfra
            .subnets
            .get(id)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.strip_suffix(V6)?.to_string(), Cidr6::parse(v)?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut taken: Vec<Cidr6> = c
            .kinfra
            .subnets
            .iter()
            .filter(|(other, _)| other.as_str() != id)
            .flat_map(|(_, m)| m.values().filter_map(|v| Cidr6::parse(v)))
            .collect();
        taken.extend(engine.iter().filter(|e| !kept.values().any(|k| k == *e)));
        let mut chosen = BTreeMap::new();
        for (net, original) in fixed {
            let pick = match kept.get(net) {
                Some(k) if k.len == original.len => *k,
                _ => model::choose_subnet6(original.len, &taken).ok_or_else(|| {
                    Error::NoFreeSubnet {
                        len: format!("{} IPv6", original.len),
                        pool: model::POOL6.to_string(),
                        network: net.clone(),
                        fixed: original.to_string(),
                        narrowest: Some(model::POOL6.len.to_string()),
                    }
                })?,
            };
            taken.push(pick);
            chosen.insert(net.clone(), pick);
        }
        let own = c.kinfra.subnets.entry(id.to_string()).or_default();
        own.retain(|k, _| !k.ends_with(V6));
        own.extend(
            chosen
                .iter()
                .map(|(k, v)| (format!("{k}{V6}"), v.to_string())),
        );
        Ok(chosen)
    })
}
