//! Routes and links via rtnetlink: `ip route get` and interface names/MTUs.
//!
//! rtnetlink is async; these are small one-shot requests, so each runs a current-thread tokio
//! runtime on the namespace's thread (the rtnetlink socket is created there, in the namespace).

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::link::LinkAttribute;
use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMetric, RouteType};
use xfrmdiag_netns::Netns;

use crate::error::Error;
use crate::model::RouteInfo;

/// Name and MTU of one interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub mtu: Option<u32>,
}

fn runtime(op: &'static str) -> Result<tokio::runtime::Runtime, Error> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::from_io(op, e))
}

fn rt_error(op: &'static str, e: rtnetlink::Error) -> Error {
    if let rtnetlink::Error::NetlinkError(msg) = &e {
        if let Some(code) = msg.code {
            return Error::from_errno(op, -code.get());
        }
    }
    Error::Route {
        op,
        reason: e.to_string(),
    }
}

async fn dump_links(op: &'static str) -> Result<HashMap<u32, Link>, Error> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::from_io(op, e))?;
    tokio::spawn(conn);
    let mut stream = handle.link().get().execute();
    let mut links = HashMap::new();
    while let Some(msg) = stream.try_next().await.map_err(|e| rt_error(op, e))? {
        let mut name = None;
        let mut mtu = None;
        for attr in msg.attributes {
            match attr {
                LinkAttribute::IfName(n) => name = Some(n),
                LinkAttribute::Mtu(m) => mtu = Some(m),
                _ => {}
            }
        }
        if let Some(name) = name {
            links.insert(msg.header.index, Link { name, mtu });
        }
    }
    Ok(links)
}

/// Every interface of the namespace by index (`ip link`).
pub fn links(ns: &Netns) -> Result<HashMap<u32, Link>, Error> {
    const OP: &str = "listing links";
    ns.run(move || runtime(OP)?.block_on(dump_links(OP)))?
}

fn route_kind(kind: RouteType) -> String {
    match kind {
        RouteType::Unicast => "unicast".into(),
        RouteType::Local => "local".into(),
        RouteType::Broadcast => "broadcast".into(),
        RouteType::Anycast => "anycast".into(),
        RouteType::Multicast => "multicast".into(),
        RouteType::BlackHole => "blackhole".into(),
        RouteType::Unreachable => "unreachable".into(),
        RouteType::Prohibit => "prohibit".into(),
        RouteType::Throw => "throw".into(),
        RouteType::Nat => "nat".into(),
        other => format!("type-{}", u8::from(other)),
    }
}

fn route_ip(addr: &RouteAddress) -> Option<IpAddr> {
    match addr {
        RouteAddress::Inet(a) => Some(IpAddr::V4(*a)),
        RouteAddress::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

/// What else the flow carries that routing may depend on (`ip route get DST mark M oif DEV
/// ipproto P dport N`): policy routing by fwmark, a socket bound to a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RouteQuery {
    pub mark: Option<u32>,
    pub oif: Option<u32>,
    /// IP protocol number (6 TCP, 17 UDP, 1 ICMP).
    pub ip_proto: Option<u8>,
    pub dport: Option<u16>,
}

async fn get_route(op: &'static str, dst: IpAddr, query: RouteQuery) -> Result<RouteInfo, Error> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::from_io(op, e))?;
    tokio::spawn(conn);
    let full = if dst.is_ipv4() { 32 } else { 128 };
    let mut builder = rtnetlink::RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(dst, full)
        .map_err(|e| Error::Route {
            op,
            reason: e.to_string(),
        })?;
    if let Some(mark) = query.mark {
        builder = builder.mark(mark);
    }
    if let Some(oif) = query.oif {
        builder = builder.output_interface(oif);
    }
    if let Some(proto) = query.ip_proto {
        builder = builder.ip_protocol(proto);
        if let Some(port) = query.dport {
            builder = builder.dport(port);
        }
    }
    let request = builder.build();
    let mut stream = handle.route().get(request).execute();
    let msg = stream
        .try_next()
        .await
        .map_err(|e| rt_error(op, e))?
        .ok_or_else(|| Error::Route {
            op,
            reason: format!("no answer for {dst}"),
        })?;
    let mut info = RouteInfo {
        dst,
        gateway: None,
        dev: None,
        ifindex: 0,
        src: None,
        mtu: None,
        link_mtu: None,
        kind: route_kind(msg.header.kind),
    };
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Oif(i) => info.ifindex = *i,
            RouteAttribute::Gateway(a) => info.gateway = route_ip(a),
            RouteAttribute::PrefSource(a) => info.src = route_ip(a),
            RouteAttribute::Metrics(metrics) => {
                for m in metrics {
                    if let RouteMetric::Mtu(mtu) = m {
                        info.mtu = Some(*mtu);
                    }
                }
            }
            _ => {}
        }
    }
    if info.ifindex != 0 {
        let links = dump_links(op).await?;
        if let Some(link) = links.get(&info.ifindex) {
            info.dev = Some(link.name.clone());
            info.link_mtu = link.mtu;
        }
    }
    Ok(info)
}

/// How the kernel routes to `dst` from inside `ns`, like `ip route get DST`: output device,
/// preferred source, route MTU (if any) and the device's MTU.
pub fn route_get(ns: &Netns, dst: IpAddr) -> Result<RouteInfo, Error> {
    route_get_for(ns, dst, RouteQuery::default())
}

/// [`route_get`] for a flow that carries a mark, an output device or a protocol and port.
pub fn route_get_for(ns: &Netns, dst: IpAddr, query: RouteQuery) -> Result<RouteInfo, Error> {
    const OP: &str = "route lookup";
    ns.run(move || runtime(OP)?.block_on(get_route(OP, dst, query)))?
}
