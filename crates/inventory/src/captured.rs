//! Decoding XFRM events from captured netlink bytes, as [`crate::Monitor`] decodes them live:
//! for fixtures, fuzzing and reading a capture made elsewhere.

use netlink_packet_xfrm as x;

use crate::error::Error;
use crate::model::EventKind;
use crate::nl;

/// Decodes every XFRM message of `bytes` (a sequence of netlink messages) into the event the
/// monitor would report; NOOP/DONE/ERROR messages are skipped as the monitor skips them.
pub fn events_from_netlink_bytes(bytes: &[u8]) -> Result<Vec<EventKind>, Error> {
    let op = "decoding captured XFRM events";
    let mut events = Vec::new();
    for msg in nl::messages(bytes) {
        let msg = msg.map_err(|reason| Error::Malformed { op, reason })?;
        if msg.msg_type < x::XFRM_MSG_BASE {
            continue;
        }
        let kind = crate::monitor::decode_event(msg.msg_type, msg.payload)
            .map_err(|reason| Error::Malformed { op, reason })?;
        events.push(kind);
    }
    Ok(events)
}
