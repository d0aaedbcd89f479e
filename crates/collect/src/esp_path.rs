//! The route the flow's ESP packets take: the outer destination of the outbound policy that
//! covers the flow, looked up like `ip route get`, with the MTU of the device it leaves by. The
//! MTU findings subtract the SA's overhead from it (a policy-based tunnel routes the inner
//! packet by the WAN route; a route-based one into an xfrm interface whose own MTU says nothing
//! about the WAN).

use std::net::IpAddr;

use xfrmdiag_evidence::{Flow, Inventory, RouteInfo};
use xfrmdiag_netns::Netns;

use crate::readers;

/// The route to the tunnel endpoint of the `dir out` policy (with a template) covering `flow`,
/// most specific selector first; `None` when no such policy exists.
pub fn esp_route(
    ns: &Netns,
    inventory: &Inventory,
    flow: &Flow,
) -> Option<Result<RouteInfo, String>> {
    let dst: IpAddr = flow.dst.as_deref()?.parse().ok()?;
    let outer = tunnel_endpoint(inventory, dst, &flow.proto)?;
    Some(readers::route(ns, outer))
}

fn tunnel_endpoint(inventory: &Inventory, dst: IpAddr, proto: &str) -> Option<IpAddr> {
    let mut covering: Vec<_> = inventory
        .policies
        .iter()
        .flatten()
        .filter(|p| p.dir == "out" && p.action == "allow" && !p.socket)
        .filter(|p| {
            p.selector
                .proto
                .as_deref()
                .is_none_or(|s| s == proto || s == "any")
        })
        .filter_map(|p| Some((prefix_len(&p.selector.dst, dst)?, p.priority, p)))
        .collect();
    // The kernel picks by priority first, then by order; the longest prefix is a fair stand-in
    // among equal priorities.
    covering.sort_by_key(|(len, prio, _)| (*prio, std::cmp::Reverse(*len)));
    covering.iter().find_map(|(_, _, p)| {
        p.templates
            .iter()
            .find(|t| t.proto == "esp")
            .and_then(|t| t.dst.as_deref()?.parse().ok())
    })
}

/// The prefix length of `prefix` when it contains `addr`.
fn prefix_len(prefix: &str, addr: IpAddr) -> Option<u32> {
    let (net, len) = match prefix.split_once('/') {
        Some((n, l)) => (n, l.parse::<u32>().ok()?),
        None => (prefix, if addr.is_ipv4() { 32 } else { 128 }),
    };
    let covers = match (net.parse::<IpAddr>().ok()?, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
            u32::from(n) & mask == u32::from(a) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
            u128::from(n) & mask == u128::from(a) & mask
        }
        _ => false,
    };
    covers.then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xfrmdiag_evidence::{Policy, Selector, Template};

    fn out(dst: &str, prio: u32, endpoint: &str) -> Policy {
        Policy {
            dir: "out".into(),
            action: "allow".into(),
            priority: prio,
            selector: Selector {
                src: "10.1.0.0/24".into(),
                dst: dst.into(),
                ..Default::default()
            },
            templates: vec![Template {
                proto: "esp".into(),
                mode: "tunnel".into(),
                dst: Some(endpoint.into()),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    #[test]
    fn the_covering_policys_template_names_the_tunnel_endpoint() {
        let inv = Inventory {
            policies: Some(vec![
                out("10.3.0.0/24", 0, "192.0.2.9"),
                out("0.0.0.0/0", 0, "192.0.2.7"),
                out("10.2.0.0/24", 0, "192.0.2.2"),
            ]),
            ..Default::default()
        };
        let dst = "10.2.0.1".parse().unwrap();
        assert_eq!(
            tunnel_endpoint(&inv, dst, "tcp"),
            Some("192.0.2.2".parse().unwrap())
        );
        let elsewhere = "10.9.0.1".parse().unwrap();
        assert_eq!(
            tunnel_endpoint(&inv, elsewhere, "tcp"),
            Some("192.0.2.7".parse().unwrap())
        );
        assert_eq!(
            tunnel_endpoint(&inv, "fd02::1".parse().unwrap(), "tcp"),
            None
        );
    }
}
