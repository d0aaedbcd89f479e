//! compare's IKE cross-check: each host's CHILD_SAs against the peer daemon's and both kernels'
//! SAs, by SPI. One host's outbound SPI is the other's inbound one; all four views should know
//! it. Lines only (`ok: …` or what disagrees): the kernel-level findings come from the SA
//! comparison and the engine, so nothing is named twice.

use crate::evidence::SideEvidence;

/// An installed CHILD_SA SPI as one host's daemon knows it.
struct ChildSpi {
    name: String,
    spi_in: Option<String>,
    spi_out: Option<String>,
}

fn children(sides: &[SideEvidence]) -> Option<Vec<ChildSpi>> {
    let views: Vec<_> = sides.iter().filter_map(|s| s.ike.as_ref()).collect();
    if views.is_empty() {
        return None;
    }
    Some(
        views
            .iter()
            .flat_map(|v| v.ike_sas.iter())
            .flat_map(|i| {
                i.child_sas
                    .iter()
                    .filter(|c| c.installed)
                    .map(move |c| ChildSpi {
                        name: format!("{}/{}", i.name, c.name),
                        spi_in: c.spi_in.clone(),
                        spi_out: c.spi_out.clone(),
                    })
            })
            .collect(),
    )
}

fn kernel_spis(sides: &[SideEvidence]) -> Vec<String> {
    sides
        .iter()
        .filter_map(|s| s.inventory.as_ref()?.sas.as_ref())
        .flatten()
        .map(|sa| sa.spi.clone())
        .collect()
}

/// The cross-check lines, empty unless both hosts' evidence carries an IKE view.
pub(crate) fn ike_checks(
    a: &[SideEvidence],
    b: &[SideEvidence],
    name_a: &str,
    name_b: &str,
) -> Vec<String> {
    let (Some(ca), Some(cb)) = (children(a), children(b)) else {
        return Vec::new();
    };
    let (ka, kb) = (kernel_spis(a), kernel_spis(b));
    let mut lines = Vec::new();
    let mut check = |from: &str, child: &ChildSpi, spi: &str, dir: &str, peer: &[ChildSpi]| {
        let (peer_name, peer_dir) = if from == name_a {
            (name_b, if dir == "out" { "in" } else { "out" })
        } else {
            (name_a, if dir == "out" { "in" } else { "out" })
        };
        let twin = peer.iter().find(|p| {
            let s = if peer_dir == "in" {
                &p.spi_in
            } else {
                &p.spi_out
            };
            s.as_deref() == Some(spi)
        });
        let in_a = ka.iter().any(|s| s == spi);
        let in_b = kb.iter().any(|s| s == spi);
        let twin_text = twin.map_or_else(
            || format!("{peer_name}'s daemon does not know it"),
            |t| format!("{peer_name}'s daemon has it as {} {peer_dir}", t.name),
        );
        let kernels = match (in_a, in_b) {
            (true, true) => "both kernels hold it".to_string(),
            (false, false) => "neither kernel holds it".to_string(),
            (true, false) => format!("only {name_a}'s kernel holds it"),
            (false, true) => format!("only {name_b}'s kernel holds it"),
        };
        let ok = twin.is_some() && in_a && in_b;
        lines.push(format!(
            "{}: {from}'s CHILD_SA {} {dir} {spi}: {twin_text}; {kernels}",
            if ok { "ok" } else { "differs" },
            child.name
        ));
    };
    for (from, mine, peer) in [(name_a, &ca, &cb), (name_b, &cb, &ca)] {
        for c in mine {
            if let Some(spi) = &c.spi_out {
                check(from, c, spi, "out", peer);
            }
            // The inbound SPI is the peer's outbound one: checked from its side, unless the
            // peer's daemon does not know it (then only this line shows it).
            if let Some(spi) = &c.spi_in {
                let known = peer.iter().any(|p| p.spi_out.as_deref() == Some(spi));
                if !known {
                    check(from, c, spi, "in", peer);
                }
            }
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::*;

    fn host(name: &str, child: (&str, &str), kernel: &[&str]) -> SideEvidence {
        SideEvidence {
            namespace: name.into(),
            inventory: Some(Inventory {
                sas: Some(
                    kernel
                        .iter()
                        .map(|spi| Sa {
                            spi: spi.to_string(),
                            ..Default::default()
                        })
                        .collect(),
                ),
                ..Default::default()
            }),
            ike: Some(IkeView {
                daemon: "strongswan".into(),
                ike_sas: vec![IkeSaInfo {
                    name: "host".into(),
                    child_sas: vec![ChildSaInfo {
                        name: "flow".into(),
                        installed: true,
                        spi_in: Some(child.0.into()),
                        spi_out: Some(child.1.into()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn child_sas_line_up_by_spi_across_daemons_and_kernels() {
        let both = ["0xc1000001", "0xc2000002"];
        let a = [host("a", ("0xc1000001", "0xc2000002"), &both)];
        let b = [host("b", ("0xc2000002", "0xc1000001"), &both)];
        let lines = ike_checks(&a, &b, "a", "b");
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines.iter().all(|l| l.starts_with("ok: ")), "{lines:#?}");
        // B's kernel lost A's outbound SA; B's daemon still lists it.
        let b = [host("b", ("0xc2000002", "0xc1000001"), &["0xc1000001"])];
        let lines = ike_checks(&a, &b, "a", "b");
        assert!(
            lines.iter().any(
                |l| l.starts_with("differs: a's CHILD_SA host/flow out 0xc2000002")
                    && l.contains("only a's kernel holds it")
            ),
            "{lines:#?}"
        );
        // Without an IKE view on one host: nothing to line up.
        let mut plain = b[0].clone();
        plain.ike = None;
        assert!(ike_checks(&a, &[plain], "a", "b").is_empty());
    }
}
