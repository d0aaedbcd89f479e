//! The UDP socket table in /proc/net/udp and /proc/net/udp6: which sockets hold a port, and how
//! many datagrams each dropped (buffer full, socket filter).

use std::path::Path;

use crate::Error;

/// One socket line of /proc/net/udp{,6}.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpSocketLine {
    pub local_port: u16,
    pub inode: u64,
    /// The `drops` column: datagrams the socket could not take.
    pub drops: u64,
}

/// Parses the text of /proc/net/udp or /proc/net/udp6 (header line first).
pub fn parse(text: &str) -> Vec<UdpSocketLine> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            let local = cols.get(1)?;
            let port = u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()?;
            Some(UdpSocketLine {
                local_port: port,
                inode: cols.get(9)?.parse().ok()?,
                drops: cols.get(12)?.parse().ok()?,
            })
        })
        .collect()
}

/// Sum of the `drops` column of every socket bound on `port`, or `None` when no socket holds it.
/// Reads `ROOT/thread-self/net/udp{,6}`: call it from a thread inside the namespace.
pub fn read_drops(proc_root: &Path, port: u16) -> Result<Option<u64>, Error> {
    let mut found = None;
    for file in ["udp", "udp6"] {
        let path = proc_root.join("thread-self/net").join(file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // No IPv6 in this kernel/namespace: no udp6 table.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && file == "udp6" => continue,
            Err(source) => {
                return Err(Error::Proc {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        for s in parse(&text).into_iter().filter(|s| s.local_port == port) {
            *found.get_or_insert(0) += s.drops;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Captured on kernel 6.18 with a socket on 127.0.0.1:5000 and one on [::]:5001.
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops            
  289: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 50698 2 000000008491f0d7 7         
";
    const UDP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  290: 00000000000000000000000000000000:1389 00000000000000000000000000000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 50699 2 00000000711584fb 0
";

    #[test]
    fn parses_port_inode_and_drops() {
        assert_eq!(
            parse(UDP),
            vec![UdpSocketLine {
                local_port: 5000,
                inode: 50698,
                drops: 7
            }]
        );
        assert_eq!(parse(UDP6)[0].local_port, 5001);
        assert!(parse("header only\n").is_empty());
    }

    #[test]
    fn finds_a_bound_port_and_not_a_free_one() {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = s.local_addr().unwrap().port();
        assert_eq!(read_drops(Path::new("/proc"), port).unwrap(), Some(0));
        drop(s);
        assert_eq!(read_drops(Path::new("/proc"), port).unwrap(), None);
    }
}
