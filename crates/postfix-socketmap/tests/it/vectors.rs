use postfix_socketmap::{
    DEFAULT_MAX_REQUEST_LEN, MAX_REPLY_LEN, NetstringError, Reply, ReplyError, Request,
    RequestError, decode_netstring, encode_netstring,
};

fn reply_wire(reply: &Reply) -> Vec<u8> {
    let mut out = Vec::new();
    reply.encode(&mut out, MAX_REPLY_LEN).unwrap();
    out
}

#[test]
fn sock_1_request_split_at_first_space() {
    let (payload, used) = decode_netstring(b"19:postfix example.com,", DEFAULT_MAX_REQUEST_LEN)
        .unwrap()
        .unwrap();
    assert_eq!(used, 23);
    let request = Request::parse(payload).unwrap();
    assert_eq!(request.name(), "postfix");
    assert_eq!(request.key(), "example.com");
    assert_eq!(
        Request::parse(b"postfix [mx.example.com]:587")
            .unwrap()
            .key(),
        "[mx.example.com]:587"
    );
    assert_eq!(
        Request::parse(b"postfixexample.com"),
        Err(RequestError::MissingSpace)
    );
}

#[test]
fn sock_2_reply_words() {
    assert_eq!(reply_wire(&Reply::NotFound), b"9:NOTFOUND ,");
    assert_eq!(
        reply_wire(&Reply::Ok(
            "secure match=mail.example.com servername=hostname".into()
        )),
        b"52:OK secure match=mail.example.com servername=hostname,"
    );
    assert_eq!(
        reply_wire(&Reply::Temp("policy fetch timeout".into())),
        b"25:TEMP policy fetch timeout,"
    );
    assert_eq!(
        reply_wire(&Reply::Timeout("lookup timed out".into())),
        b"24:TIMEOUT lookup timed out,"
    );
    assert_eq!(
        reply_wire(&Reply::Perm("bad request".into())),
        b"16:PERM bad request,"
    );
}

#[test]
fn sock_3_never_ok_without_data() {
    assert_eq!(reply_wire(&Reply::Ok(String::new())), b"9:NOTFOUND ,");
    assert_eq!(Reply::parse(b"OK "), Err(ReplyError::EmptyOk));
}

#[test]
fn sock_5_size_limits() {
    let fits = Reply::Ok("a".repeat(MAX_REPLY_LEN - 3));
    assert!(fits.encode(&mut Vec::new(), MAX_REPLY_LEN).is_ok());
    let over = Reply::Ok("a".repeat(MAX_REPLY_LEN - 2));
    assert!(matches!(
        over.encode(&mut Vec::new(), MAX_REPLY_LEN),
        Err(ReplyError::TooLong { .. })
    ));
    // A request announcing more than the limit is refused from its length alone.
    let announce = format!("{}:", DEFAULT_MAX_REQUEST_LEN + 1);
    assert_eq!(
        decode_netstring(announce.as_bytes(), DEFAULT_MAX_REQUEST_LEN),
        Err(NetstringError::TooLong {
            max: DEFAULT_MAX_REQUEST_LEN
        })
    );
    let at_limit = format!("{DEFAULT_MAX_REQUEST_LEN}:");
    assert_eq!(
        decode_netstring(at_limit.as_bytes(), DEFAULT_MAX_REQUEST_LEN),
        Ok(None)
    );
}

#[test]
fn sock_8_netstring_vectors() {
    let mut out = Vec::new();
    encode_netstring(b"hello world!", &mut out);
    assert_eq!(out, b"12:hello world!,");
    out.clear();
    encode_netstring(b"", &mut out);
    assert_eq!(out, b"0:,");
    let max = 1 << 20;
    assert_eq!(
        decode_netstring(b"012:hello world!,", max),
        Err(NetstringError::LeadingZero)
    );
    assert_eq!(
        decode_netstring(b":abc,", max),
        Err(NetstringError::EmptyLength)
    );
    assert_eq!(
        decode_netstring(b"3:abc;", max),
        Err(NetstringError::MissingTerminator(b';'))
    );
    assert_eq!(decode_netstring(b"3:ab", max), Ok(None));
    assert_eq!(
        decode_netstring(b"99999999999:", max),
        Err(NetstringError::TooLong { max })
    );
    let two = b"3:abc,3:def,";
    let (a, used) = decode_netstring(two, max).unwrap().unwrap();
    let (b, _) = decode_netstring(&two[used..], max).unwrap().unwrap();
    assert_eq!((a, b), (&b"abc"[..], &b"def"[..]));
}
