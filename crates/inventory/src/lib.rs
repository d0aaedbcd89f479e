//! The kernel's XFRM configuration, read over netlink.
//!
//! Owns: SA/SP dumps, SPD/SAD info, default policies, the XFRM event monitor, routes and links via
//! rtnetlink, and key fingerprints. Raw key bytes never leave this crate. Must not: print, decide
//! or read /proc.
