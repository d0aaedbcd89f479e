//! Kernel counters: /proc parsers, snapshots, deltas (with resets) and the counter catalog.
//!
//! Owns: /proc/net/xfrm_stat, snmp, netstat, snmp6 parsing, one flat counter namespace, and what
//! each counter means. Must not: print or decide a verdict.
