use postfix_socketmap::{Reply, Request, decode_netstring, encode_netstring};
use proptest::prelude::*;

proptest! {
    // SOCK-8: any payloads, concatenated and fed in arbitrary pieces, come out whole and in order.
    #[test]
    fn stream_in_arbitrary_pieces(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..6),
        cuts in prop::collection::vec(1usize..16, 0..40),
    ) {
        let mut wire = Vec::new();
        for p in &payloads {
            encode_netstring(p, &mut wire);
        }
        let mut buffer: Vec<u8> = Vec::new();
        let mut got = Vec::new();
        let mut offset = 0;
        let mut pieces = cuts.into_iter().chain(std::iter::repeat(7));
        while offset < wire.len() {
            let n = pieces.next().unwrap_or(1).min(wire.len() - offset);
            buffer.extend_from_slice(&wire[offset..offset + n]);
            offset += n;
            while let Some((payload, used)) = decode_netstring(&buffer, 64).unwrap() {
                got.push(payload.to_vec());
                buffer.drain(..used);
            }
        }
        prop_assert!(buffer.is_empty());
        prop_assert_eq!(got, payloads);
    }

    #[test]
    fn request_round_trip(name in "[a-z_]{1,10}", key in "[ -~]{1,40}") {
        let request = Request::new(&name, &key).unwrap();
        let mut wire = Vec::new();
        request.encode(&mut wire);
        let (payload, used) = decode_netstring(&wire, 100).unwrap().unwrap();
        prop_assert_eq!(used, wire.len());
        prop_assert_eq!(Request::parse(payload).unwrap(), request);
    }

    #[test]
    fn reply_round_trip(kind in 0u8..5, text in "[ -~]{0,40}") {
        let reply = match kind {
            0 if !text.is_empty() => Reply::Ok(text),
            0 | 1 => Reply::NotFound,
            2 => Reply::Temp(text),
            3 => Reply::Timeout(text),
            _ => Reply::Perm(text),
        };
        let mut wire = Vec::new();
        reply.encode(&mut wire, 1000).unwrap();
        let (payload, _) = decode_netstring(&wire, 1000).unwrap().unwrap();
        prop_assert_eq!(Reply::parse(payload).unwrap(), reply);
    }

    #[test]
    fn garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), max in 0usize..100) {
        if let Ok(Some((payload, used))) = decode_netstring(&bytes, max) {
            prop_assert!(used <= bytes.len());
            prop_assert!(payload.len() <= max);
        }
        let _ = Request::parse(&bytes);
        let _ = Reply::parse(&bytes);
    }
}
