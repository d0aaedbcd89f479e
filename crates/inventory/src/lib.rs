//! The kernel's XFRM configuration, read over netlink.
//!
//! Owns: SA/SP dumps, SPD/SAD info, default policies, the XFRM event monitor, routes and links via
//! rtnetlink, and key fingerprints. Raw key bytes never leave this crate (they are not even kept in
//! a struct: an algorithm's key is fingerprinted and wiped as soon as it is decoded). Must not:
//! print, decide or read /proc.
//!
//! Dumps use a blocking NETLINK_XFRM socket created inside the namespace and stream: each
//! datagram (≤ 32 KiB) is decoded as it arrives.

mod captured;
mod decode;
mod dump;
mod error;
mod info;
mod links;
pub mod model;
mod monitor;
mod nl;
mod route;

pub use captured::events_from_netlink_bytes;
pub use decode::key_fingerprint;
pub use dump::{
    dump_policies, dump_sas, policies, policies_from_netlink_bytes, sas, sas_from_netlink_bytes,
    PolicyStream, SaStream,
};
pub use error::Error;
pub use info::xfrm_info;
pub use links::{tunnel_links, LinkStats, TunnelLink};
pub use model::*;
pub use monitor::{Collector, Monitor};
pub use route::{links, route_get, route_get_for, Link, RouteQuery};
pub use xfrmdiag_netns::Netns;
#[cfg(test)]
mod fixture_tests;
