//! Kernel symbols from `/proc/kallsyms`: one sorted table, binary search per address.
//!
//! Kernels up to 6.1 print the `kfree_skb` location as a raw address; this turns it into
//! `xfrm_input+0x1df`. The address is only real with `no_hash_pointers` (otherwise `%p` is hashed
//! and will not resolve), and kallsyms only shows addresses to root with `kptr_restrict` ≤ 1.

use std::path::Path;

use crate::parse::Location;
use crate::Error;

/// Text symbols sorted by address.
#[derive(Debug, Clone, Default)]
pub struct Kallsyms {
    addresses: Vec<u64>,
    names: Vec<String>,
}

impl Kallsyms {
    /// Reads `<proc_root>/kallsyms` (pass `/proc`, or a fixture folder in tests).
    pub fn load(proc_root: &Path) -> Result<Kallsyms, Error> {
        let path = proc_root.join("kallsyms");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Kallsyms {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        let table = Kallsyms::parse(&text);
        if table.is_empty() {
            return Err(Error::Kallsyms {
                path,
                detail:
                    "all addresses are hidden: run as root, or set kernel.kptr_restrict to 0 or 1"
                        .into(),
            });
        }
        Ok(table)
    }

    /// Parses kallsyms text (`ffffffff81000000 T _stext`, `… t esp_input\t[esp4]`).
    /// Only code symbols are kept; zero addresses (hidden by kptr_restrict) are skipped.
    pub fn parse(text: &str) -> Kallsyms {
        let mut entries: Vec<(u64, &str)> = Vec::new();
        for line in text.lines() {
            let mut parts = line.split_whitespace();
            let (Some(addr), Some(kind), Some(name)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if !matches!(kind, "t" | "T" | "w" | "W") {
                continue;
            }
            let Ok(addr) = u64::from_str_radix(addr, 16) else {
                continue;
            };
            if addr != 0 {
                entries.push((addr, name));
            }
        }
        // Stable sort keeps the first alias (e.g. `_stext` vs `_text`) in file order.
        entries.sort_by_key(|&(addr, _)| addr);
        Kallsyms {
            addresses: entries.iter().map(|&(a, _)| a).collect(),
            names: entries.iter().map(|&(_, n)| n.to_string()).collect(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    pub fn len(&self) -> usize {
        self.addresses.len()
    }

    /// The symbol containing `address` and the offset into it.
    pub fn resolve(&self, address: u64) -> Option<(&str, u64)> {
        // No function is this large: past the last symbol is not "inside" it.
        const MAX_OFFSET: u64 = 1 << 20;
        if !is_kernel_address(address) {
            return None;
        }
        let idx = self.addresses.partition_point(|&a| a <= address);
        if idx == 0 {
            return None;
        }
        // Several symbols can share an address; the last one at or below wins (file order kept).
        let start = self.addresses[idx - 1];
        let offset = address - start;
        (offset < MAX_OFFSET).then(|| (self.names[idx - 1].as_str(), offset))
    }

    /// Fills in the symbol of a raw-address location; leaves symbolized ones as they are.
    pub fn symbolize(&self, location: &mut Location) {
        if location.symbol.is_some() {
            return;
        }
        if let Some(addr) = location.address {
            if let Some((name, off)) = self.resolve(addr) {
                location.symbol = Some(name.to_string());
                location.offset = Some(off);
            }
        }
    }
}

/// Kernel text lives in the top half of the address space; `%p` without `no_hash_pointers`
/// prints a hash like `00000000e3421851`, which must not be "symbolized" into nonsense.
pub fn is_kernel_address(address: u64) -> bool {
    address >= 0xffff_0000_0000_0000
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "0000000000000000 A fixed_percpu_data\nffffffff81a2b200 T xfrm_input\nffffffff81a2c000 t xfrm_rcv_cb\nffffffff81000000 T _stext\nffffffffc0a00000 t esp_input\t[esp4]\nffffffff81a2b300 d some_data\n";

    #[test]
    fn resolves_inside_and_at_start() {
        let k = Kallsyms::parse(TEXT);
        assert_eq!(k.len(), 4);
        assert_eq!(k.resolve(0xffffffff81a2b3df), Some(("xfrm_input", 0x1df)));
        assert_eq!(k.resolve(0xffffffff81a2c000), Some(("xfrm_rcv_cb", 0)));
        assert_eq!(k.resolve(0xffffffffc0a00010), Some(("esp_input", 0x10)));
        assert_eq!(k.resolve(0x1000), None);
        // A hashed pointer (no no_hash_pointers) is not an address.
        assert_eq!(k.resolve(0x00000000e3421851), None);
    }

    #[test]
    fn symbolizes_raw_location() {
        let k = Kallsyms::parse(TEXT);
        let mut loc = Location::parse("ffffffff81a2b3df").unwrap();
        k.symbolize(&mut loc);
        assert_eq!(loc.display(), "xfrm_input+0x1df");
    }
}
