//! Fuzzing the vici decoder with proptest: arbitrary bytes never panic, and every message built
//! from non-secret names survives an encode/decode round trip; secret names never survive.

use proptest::prelude::*;
use xfrmdiag_ike::vici::{self, is_secret_name, Message, PacketType, Value};

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z_-]{0,12}"
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        "[ -~]{0,40}".prop_map(Value::Str),
        prop::collection::vec("[ -~]{0,20}", 0..4).prop_map(Value::List),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop::collection::vec((name(), inner), 0..6)
            .prop_map(|entries| Value::Section(Message { entries }))
    })
}

fn message() -> impl Strategy<Value = Message> {
    prop::collection::vec((name(), value()), 0..8).prop_map(|entries| Message { entries })
}

/// What decoding must give: the message without any entry under a secret name.
fn without_secrets(m: &Message) -> Message {
    Message {
        entries: m
            .entries
            .iter()
            .filter(|(k, _)| !is_secret_name(k))
            .map(|(k, v)| {
                let v = match v {
                    Value::Section(s) => Value::Section(without_secrets(s)),
                    v => v.clone(),
                };
                (k.clone(), v)
            })
            .collect(),
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = vici::decode_packet(&bytes);
        let _ = vici::decode_message(&bytes);
    }

    #[test]
    fn mutated_packets_never_panic(m in message(), flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6)) {
        let mut bytes = vici::encode_packet(PacketType::Event, Some("list-sa"), &m);
        for (at, b) in flips {
            let n = bytes.len();
            bytes[4 + at % (n - 4)] = b;
        }
        let _ = vici::decode_packet(&bytes[4..]);
    }

    #[test]
    fn round_trip_drops_exactly_the_secrets(m in message()) {
        let bytes = vici::encode_packet(PacketType::CmdResponse, None, &m);
        let p = vici::decode_packet(&bytes[4..]).unwrap();
        prop_assert_eq!(p.message, without_secrets(&m));
    }
}
