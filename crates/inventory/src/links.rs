//! Tunnel interfaces of route-based VPNs via rtnetlink: xfrm interfaces (`if_id`) and VTI
//! (`ikey`/`okey`, which are the marks their SAs and policies must carry), with their state,
//! underlying device, MTU and counters — what `ip -d -s link show type xfrm` shows.

use std::collections::HashMap;
use std::net::IpAddr;

use futures::TryStreamExt;
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVti, InfoXfrm, LinkAttribute, LinkFlags, LinkInfo, LinkMessage, State,
};
use serde::{Deserialize, Serialize};
use xfrmdiag_netns::Netns;

use crate::error::Error;

/// One xfrm or VTI interface.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelLink {
    pub name: String,
    pub index: u32,
    /// `xfrm`, `vti` or `vti6`.
    pub kind: String,
    /// xfrm interface: the `if_id` its SAs and policies must carry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_id: Option<u32>,
    /// VTI: the mark inbound SAs must match (`ikey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ikey: Option<u32>,
    /// VTI: the mark outbound policies must match (`okey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub okey: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<IpAddr>,
    /// The device it is bound to (`dev …`), when one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub underlay: Option<String>,
    /// Administratively up (`ip link set … up`).
    pub admin_up: bool,
    /// `up`, `down`, `lowerlayerdown`, `unknown`, …
    pub oper_state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<LinkStats>,
}

impl TunnelLink {
    /// Up enough to carry traffic: admin up and not reported down by the kernel.
    pub fn is_up(&self) -> bool {
        self.admin_up && !matches!(self.oper_state.as_str(), "down" | "lowerlayerdown")
    }
}

/// The interface counters that matter for a tunnel (`ip -s link`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
    /// xfrm interfaces count policy/SA lookups that found nothing here (`xfrmi_xmit`).
    pub tx_carrier_errors: u64,
}

/// Every xfrm and VTI interface of the namespace (others are left out).
pub fn tunnel_links(ns: &Netns) -> Result<Vec<TunnelLink>, Error> {
    const OP: &str = "listing tunnel interfaces";
    ns.run(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::from_io(OP, e))?
            .block_on(dump(OP))
    })?
}

async fn dump(op: &'static str) -> Result<Vec<TunnelLink>, Error> {
    let (conn, handle, _) = rtnetlink::new_connection().map_err(|e| Error::from_io(op, e))?;
    tokio::spawn(conn);
    let mut stream = handle.link().get().execute();
    let mut names = HashMap::new();
    let mut tunnels = Vec::new();
    while let Some(msg) = stream.try_next().await.map_err(|e| Error::Route {
        op,
        reason: e.to_string(),
    })? {
        if let Some(name) = msg.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }) {
            names.insert(msg.header.index, name);
        }
        if let Some(link) = tunnel_link(&msg) {
            tunnels.push((link, underlay_index(&msg)));
        }
    }
    Ok(tunnels
        .into_iter()
        .map(|(mut link, under)| {
            link.underlay = under.and_then(|i| names.get(&i).cloned());
            link
        })
        .collect())
}

/// The device index an xfrm interface is bound to (IFLA_XFRM_LINK), or a VTI's (IFLA_VTI_LINK),
/// or the generic IFLA_LINK.
fn underlay_index(msg: &LinkMessage) -> Option<u32> {
    let mut found = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Link(i) if *i != 0 => found = found.or(Some(*i)),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Data(InfoData::Xfrm(d)) => {
                            if let Some(i) = d.iter().find_map(|x| match x {
                                InfoXfrm::Link(i) if *i != 0 => Some(*i),
                                _ => None,
                            }) {
                                return Some(i);
                            }
                        }
                        LinkInfo::Data(InfoData::Vti(d)) => {
                            if let Some(i) = d.iter().find_map(|x| match x {
                                InfoVti::Link(i) if *i != 0 => Some(*i),
                                _ => None,
                            }) {
                                return Some(i);
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    found
}

fn tunnel_link(msg: &LinkMessage) -> Option<TunnelLink> {
    let mut link = TunnelLink {
        index: msg.header.index,
        admin_up: msg.header.flags.contains(LinkFlags::Up),
        ..Default::default()
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => link.name = n.clone(),
            LinkAttribute::Mtu(m) => link.mtu = Some(*m),
            LinkAttribute::OperState(s) => link.oper_state = state_name(*s),
            LinkAttribute::Stats64(s) => {
                link.stats = Some(LinkStats {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                    rx_dropped: s.rx_dropped,
                    tx_dropped: s.tx_dropped,
                    tx_carrier_errors: s.tx_carrier_errors,
                })
            }
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        LinkInfo::Kind(InfoKind::Xfrm) => link.kind = "xfrm".into(),
                        LinkInfo::Kind(InfoKind::Vti) => link.kind = "vti".into(),
                        LinkInfo::Kind(InfoKind::Vti6) => link.kind = "vti6".into(),
                        LinkInfo::Data(InfoData::Xfrm(d)) => {
                            for x in d {
                                if let InfoXfrm::IfId(id) = x {
                                    link.if_id = Some(*id);
                                }
                            }
                        }
                        LinkInfo::Data(InfoData::Vti(d)) => {
                            for x in d {
                                match x {
                                    InfoVti::IKey(k) => link.ikey = Some(*k),
                                    InfoVti::OKey(k) => link.okey = Some(*k),
                                    InfoVti::Local(a) => link.local = Some(*a),
                                    InfoVti::Remote(a) => link.remote = Some(*a),
                                    _ => {}
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    // ip_vti0 / ip6_vti0: the fallback devices every namespace gets once the VTI modules are
    // loaded (always down, no endpoints): not anyone's tunnel.
    let fallback = matches!(link.name.as_str(), "ip_vti0" | "ip6_vti0");
    (!link.kind.is_empty() && !fallback).then_some(link)
}

fn state_name(s: State) -> String {
    match s {
        State::Up => "up".into(),
        State::Down => "down".into(),
        State::LowerLayerDown => "lowerlayerdown".into(),
        State::Dormant => "dormant".into(),
        State::Testing => "testing".into(),
        State::NotPresent => "notpresent".into(),
        _ => "unknown".into(),
    }
}
