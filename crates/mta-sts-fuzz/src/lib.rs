//! The fuzz targets' bodies. Each function takes arbitrary bytes, runs one parser, and panics if an
//! invariant breaks (a round trip that changes the value, a frame longer than its limit, `lint` and
//! `parse` disagreeing). `fuzz/fuzz_targets/*.rs` call them under libFuzzer; `tests/replay.rs`
//! calls them on the committed corpus and saved crashes with plain `cargo test`.
#![forbid(unsafe_code)]

use mta_sts_policy::{Domain, MxPattern, Policy, Severity, lint, lint_for_domain};
use mta_sts_txt::{
    RecordKind, ReportUri, StsRecord, TlsRptRecord, UriProblem, select_sts, select_tlsrpt,
};
use postfix_socketmap::{Reply, Request, decode_netstring, encode_netstring};
use smtp_dane::{Tlsa, Usability, chain_match};

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target, by the name of its file in `fuzz/fuzz_targets/` and its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("sts_txt", sts_txt),
    ("sts_txt_roundtrip", sts_txt_roundtrip),
    ("tlsrpt_txt", tlsrpt_txt),
    ("tlsrpt_txt_roundtrip", tlsrpt_txt_roundtrip),
    ("tlsrpt_rua_problems", tlsrpt_rua_problems),
    ("txt_select", txt_select),
    ("txt_kind", txt_kind),
    ("policy", policy),
    ("policy_lint", policy_lint),
    ("policy_roundtrip", policy_roundtrip),
    ("mx_pattern", mx_pattern),
    ("domain", domain),
    ("netstring_stream", netstring_stream),
    ("netstring_roundtrip", netstring_roundtrip),
    ("socketmap_request", socketmap_request),
    ("socketmap_reply", socketmap_reply),
    ("tlsa_text", tlsa_text),
    ("tlsa_certificate", tlsa_certificate),
];

/// `StsRecord::parse`: never panics; an accepted id is 1 to 32 letters and digits; a later `id`
/// field is dropped (TXT-8), whatever its value.
pub fn sts_txt(data: &[u8]) {
    if let Ok(record) = StsRecord::parse(data) {
        let id = record.id().as_str();
        assert!((1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()));
        // Kept as an extension, a later id would come back from Display as a second `id=`.
        assert!(record.extensions().iter().all(|e| e.name() != "id"));
        // Only the first id counts, so one more that is no valid id leaves the record as it was.
        // An accepted record ends with a value or with `*WSP ";" *WSP`, never with bare WSP.
        let end = data.iter().rposition(|&b| b != b' ' && b != b'\t');
        let delimited = end.is_some_and(|i| data[i] == b';');
        let mut longer = data.to_vec();
        longer.extend_from_slice(if delimited {
            b"id=not-an.id"
        } else {
            b"; id=not-an.id"
        });
        assert_eq!(StsRecord::parse(&longer).as_ref(), Ok(&record));
    }
}

/// `StsRecord`: parse → Display → parse gives an equal value.
pub fn sts_txt_roundtrip(data: &[u8]) {
    if let Ok(record) = StsRecord::parse(data) {
        let text = record.to_string();
        let again = StsRecord::parse(text.as_bytes()).expect("canonical STS record parses");
        assert_eq!(again, record, "{text}");
    }
}

/// `TlsRptRecord::parse`: never panics; an accepted record has at least one rua URI.
pub fn tlsrpt_txt(data: &[u8]) {
    if let Ok(record) = TlsRptRecord::parse(data) {
        assert!(!record.rua().is_empty() || !record.unsupported_rua().is_empty());
    }
}

/// `TlsRptRecord`: parse → Display → parse gives an equal value.
pub fn tlsrpt_txt_roundtrip(data: &[u8]) {
    if let Ok(record) = TlsRptRecord::parse(data) {
        let text = record.to_string();
        let again = TlsRptRecord::parse(text.as_bytes()).expect("canonical TLSRPT record parses");
        assert_eq!(again, record, "{text}");
    }
}

/// `ReportUri::problems` on every `rua` URI of a TLSRPT record: never panics; the findings fit the
/// scheme; a URI parses alone to an equal value; percent-encoding a letter or digit of a `mailto:`
/// local part changes nothing. And URIs built from the input to be valid have no problem at all.
pub fn tlsrpt_rua_problems(data: &[u8]) {
    if let Ok(record) = TlsRptRecord::parse(data) {
        record.rua().iter().for_each(check_problems);
    }
    let (mailto, https) = valid_destinations(data);
    let mut expected = Vec::new();
    for text in [&mailto, &https] {
        let uri: ReportUri = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(uri.problems(), [], "{text}");
        expected.push(uri);
    }
    assert!(matches!(
        &expected[..],
        [ReportUri::Mailto(_), ReportUri::Https(_)]
    ));
    let record = format!("v=TLSRPTv1; rua={mailto},{https}");
    let record = TlsRptRecord::parse(record.as_bytes()).unwrap_or_else(|e| panic!("{record}: {e}"));
    assert_eq!(record.rua(), expected);
}

fn check_problems(uri: &ReportUri) {
    let problems = uri.problems();
    for problem in &problems {
        assert_eq!(problem.rule(), "RPT-3");
        assert!(!problem.to_string().is_empty());
    }
    // Display writes the URI as it was in the record, which parses alone to the same value.
    let alone = uri.to_string().parse::<ReportUri>();
    assert_eq!(alone.as_ref(), Ok(uri));
    match uri {
        ReportUri::Mailto(mailto) => {
            // At most one finding about the local part, then at most one about the domain.
            let order: Vec<u8> = problems
                .iter()
                .map(|p| match p {
                    UriProblem::LocalPart { .. } => 0,
                    UriProblem::MailDomain { .. } => 1,
                    _ => panic!("{p:?} for a mailto: URI"),
                })
                .collect();
            assert!(matches!(order[..], [] | [0] | [1] | [0, 1]), "{problems:?}");
            // The local part is judged percent-decoded (RFC 6068 §2), so encoding one more of its
            // characters must not change the findings. The characters of an existing %XX stay put.
            let text = uri.as_str();
            let start = text.find(':').expect("a scheme") + 1;
            let rest = text.get(start..).unwrap_or_default();
            assert!(rest.starts_with(mailto.address()), "{text}");
            let local = mailto.address().split('@').next().unwrap_or_default();
            let mut i = 0;
            let bytes = local.as_bytes();
            while i < bytes.len() && !bytes[i].is_ascii_alphanumeric() {
                i += if bytes[i] == b'%' { 3 } else { 1 };
            }
            if let Some(&b) = bytes.get(i) {
                let at = start + i;
                let encoded = format!("{}%{b:02X}{}", &text[..at], &text[at + 1..]);
                let again = encoded.parse::<ReportUri>();
                let again = again.unwrap_or_else(|e| panic!("{encoded}: {e}"));
                assert_eq!(again.problems(), problems, "{encoded}");
            }
        }
        ReportUri::Https(https) => match &problems[..] {
            [] => {}
            [UriProblem::HttpsHost { host, .. }] => assert_eq!(host, https.host()),
            _ => panic!("{problems:?} for an https: URI"),
        },
        _ => panic!("a scheme this target does not know: {uri}"),
    }
}

/// Atext (RFC 5322 §3.2.3) and a dot, which a dot-atom local part is made of.
const ATEXT: &[u8] =
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~.";

/// Letters, digits and hyphen: a host name's labels (RFC 1123 §2.1).
const LDH: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-";

/// A `mailto:` and an `https:` URI that are valid by construction, shaped by `data`: before the
/// first `@` it picks a dot-atom local part (a set top bit percent-encodes a character that could
/// stay plain), after it a host name, IPv4 or IPv6 address, and options (port, path, headers).
fn valid_destinations(data: &[u8]) -> (String, String) {
    let (local_seed, host_seed) = match data.iter().position(|&b| b == b'@') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let mut local = String::new();
    for atom in local_seed.split(|&b| b == b'.').filter(|a| !a.is_empty()) {
        if !local.is_empty() {
            local.push('.');
        }
        for &b in atom {
            let c = ATEXT[usize::from(b) % (ATEXT.len() - 1)];
            // The characters of atext a URI may hold as they are (RFC 3986, less RFC 8460 §3's
            // `!`, and `?` and `%`, which mean something in a mailto: URI).
            let plain = c.is_ascii_alphanumeric() || b"$&'*+-/=_~".contains(&c);
            if plain && b < 0x80 {
                local.push(char::from(c));
            } else {
                local.push_str(&format!("%{c:02X}"));
            }
        }
    }
    if local.is_empty() {
        local.push_str("tlsrpt");
    }
    let [choice, rest @ ..] = host_seed else {
        return (
            format!("mailto:{local}@example.com"),
            "https://example.com/".to_owned(),
        );
    };
    let (mail_domain, uri_host) = match choice % 4 {
        0 | 1 => {
            let name = host_name(rest);
            (
                name.clone(),
                if choice & 0x10 != 0 { name + "." } else { name },
            )
        }
        2 => {
            let v4 = std::net::Ipv4Addr::from(octets::<4>(rest));
            (format!("[{v4}]"), v4.to_string())
        }
        _ => {
            let v6 = std::net::Ipv6Addr::from(octets::<16>(rest));
            (format!("[IPv6:{v6}]"), format!("[{v6}]"))
        }
    };
    let headers = if choice & 0x20 != 0 {
        "?subject=TLS%20report"
    } else {
        ""
    };
    let port = match u16::from_le_bytes([*choice, rest.first().copied().unwrap_or(0)]) {
        0 => String::new(),
        port if choice & 0x40 != 0 => format!(":{port}"),
        _ => String::new(),
    };
    let path = if choice & 0x80 != 0 {
        "/v1/tlsrpt?x=%2C"
    } else {
        ""
    };
    (
        format!("mailto:{local}@{mail_domain}{headers}"),
        format!("https://{uri_host}{port}{path}"),
    )
}

/// The first `N` bytes of `seed`, zeros after its end.
fn octets<const N: usize>(seed: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    out.iter_mut().zip(seed).for_each(|(o, s)| *o = *s);
    out
}

/// A host name from `seed`: `.` splits labels, other bytes pick letters, digits and hyphens; labels
/// cut at 63 and trimmed of hyphens, the name at 253 by dropping labels at the front, and a last
/// label of digits only followed by one more.
fn host_name(seed: &[u8]) -> String {
    let mut labels: Vec<String> = seed
        .split(|&b| b == b'.')
        .map(|l| {
            l.iter()
                .map(|&b| char::from(LDH[usize::from(b) % LDH.len()]))
                .collect::<String>()
        })
        .map(|l| {
            l.chars()
                .take(63)
                .collect::<String>()
                .trim_matches('-')
                .to_owned()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if labels
        .last()
        .is_none_or(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        labels.push("example".to_owned());
    }
    while labels.iter().map(|l| l.len() + 1).sum::<usize>() - 1 > 253 {
        labels.remove(0);
    }
    labels.join(".")
}

/// `select_sts` / `select_tlsrpt` over an RRset: records split at 0x00, character-strings at 0x01.
pub fn txt_select(data: &[u8]) {
    let rrset: Vec<Vec<&[u8]>> = data
        .split(|&b| b == 0)
        .map(|record| record.split(|&b| b == 1).collect())
        .collect();
    let _ = select_sts(&rrset);
    let _ = select_tlsrpt(&rrset);
}

/// `RecordKind::guess`: never panics, and agrees with the parsers: a text that parses as an
/// MTA-STS record is guessed `Sts`, one that parses as TLSRPT `TlsRpt`, and so is the canonical
/// form of each; whitespace before the record changes nothing.
pub fn txt_kind(data: &[u8]) {
    let guess = RecordKind::guess(data);
    if let Ok(record) = StsRecord::parse(data) {
        assert_eq!(guess, Some(RecordKind::Sts));
        let canonical = record.to_string();
        assert_eq!(
            RecordKind::guess(canonical.as_bytes()),
            guess,
            "{canonical}"
        );
    }
    if let Ok(record) = TlsRptRecord::parse(data) {
        assert_eq!(guess, Some(RecordKind::TlsRpt));
        let canonical = record.to_string();
        assert_eq!(
            RecordKind::guess(canonical.as_bytes()),
            guess,
            "{canonical}"
        );
    }
    // Leading WSP is skipped, so a record pasted with indentation is guessed the same.
    let mut indented = b" \t ".to_vec();
    indented.extend_from_slice(data);
    assert_eq!(RecordKind::guess(&indented), guess);
    // The version tag of the guessed kind, put in front, confirms the guess.
    if let Some(kind) = guess {
        let tagged = [kind.version().as_bytes(), b"; ", data].concat();
        assert_eq!(RecordKind::guess(&tagged), guess);
    }
}

/// `Policy::parse`: never panics; an accepted policy satisfies the RFC's invariants, and later
/// `version`, `mode` and `max_age` lines are ignored without judging their value (POL-8).
pub fn policy(data: &[u8]) {
    if let Ok(policy) = Policy::parse(data) {
        assert!(!policy.mode().requires_mx() || !policy.mx().is_empty());
        assert!(policy.mx().len() <= Policy::MAX_MX);
        for pattern in policy.mx() {
            assert_eq!(
                pattern.as_str().parse::<MxPattern>(),
                Ok(pattern.into_owned())
            );
        }
        // Appending after a "\n" is safe: an accepted body cannot end in a bare CR (refused), and
        // the blank line it makes after a final terminator is allowed.
        let mut longer = data.to_vec();
        longer.extend_from_slice(b"\nversion: STSv9\nmode: bogus value\nmax_age: -1\n");
        assert_eq!(Policy::parse(&longer).as_ref(), Ok(&policy));
    }
}

/// `lint`: never panics, and reports an error exactly when `Policy::parse` refuses the body, the
/// first one being the error `parse` returns; `lint_for_domain` only adds wildcard warnings.
pub fn policy_lint(data: &[u8]) {
    let parsed = Policy::parse(data);
    let diagnostics = lint(data);
    let first_error = diagnostics.iter().find(|d| d.severity() == Severity::Error);
    match (&parsed, first_error) {
        (Ok(_), None) => {}
        // One grammar walk behind both: parse stops where lint reports its first error.
        (Err(e), Some(d)) => assert_eq!((d.line(), d.error_kind()), (e.line(), Some(e.kind()))),
        _ => panic!("parse {parsed:?}, lint {diagnostics:?}"),
    }
    // MATCH-1: one warning per mx line whose last label is all digits (an address, never a host).
    if let Ok(policy) = &parsed {
        let last_label_digits = |p: &MxPattern<&str>| {
            let last = p.domain().rsplit('.').next().unwrap_or_default();
            last.bytes().all(|b| b.is_ascii_digit())
        };
        let address_shaped = policy.mx().filter(last_label_digits).count();
        let warned = diagnostics.iter().filter(|d| d.rule() == "MATCH-1").count();
        assert_eq!(warned, address_shaped, "{diagnostics:?}");
    }
    // FETCH-8: one warning, about the whole body, exactly when it is over 64 KiB (reached only with
    // a -max_len above 65536; the library's unit test covers that side).
    let too_large = diagnostics.iter().filter(|d| d.rule() == "FETCH-8");
    let too_large: Vec<_> = too_large.map(|d| (d.line(), d.severity())).collect();
    let expected = if data.len() > 64 * 1024 {
        vec![(None, Severity::Warning)]
    } else {
        vec![]
    };
    assert_eq!(too_large, expected);
    let domain: Domain = "example.com".parse().expect("a domain");
    let with_domain = lint_for_domain(data, &domain);
    // `lint`'s findings in the same order, with at most some SEC-5 warnings about wildcards added.
    let mut expected = diagnostics.iter().peekable();
    for d in &with_domain {
        if expected.peek() == Some(&d) {
            expected.next();
        } else {
            assert_eq!(
                (d.rule(), d.severity()),
                ("SEC-5", Severity::Warning),
                "{d}"
            );
        }
    }
    assert_eq!(expected.next(), None, "{with_domain:?}");
}

/// `Policy`: parse → Display → parse gives an equal value, and `policy_strings` matches Display.
pub fn policy_roundtrip(data: &[u8]) {
    if let Ok(policy) = Policy::parse(data) {
        let text = policy.to_string();
        let again = Policy::parse(text.as_bytes()).expect("canonical policy parses");
        assert_eq!(again, policy, "{text}");
        let lines: String = policy.policy_strings().map(|l| l + "\r\n").collect();
        assert_eq!(lines, text);
    }
}

/// `MxPattern`: first line a pattern, second a host. Round trip, and a literal matches itself.
pub fn mx_pattern(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (pattern, host) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(p) = pattern.parse::<MxPattern>() {
        assert_eq!(p.to_string().parse::<MxPattern>().as_ref(), Ok(&p));
        assert!(p.is_wildcard() || p.matches(p.as_str()));
        if p.matches(host) {
            assert!(host.len() >= p.domain().len());
        }
    }
}

/// `Domain`: never panics; an accepted name is in normal form (lower-case A-labels, no trailing
/// dot, at most 253 octets) and comes back equal from Display; `from_idna` gives what `new` gives
/// for ASCII names without `xn--` labels, and never accepts an ASCII name `new` refuses.
pub fn domain(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let name: &str = &text;
    let plain = Domain::new(name);
    assert_eq!(name.parse::<Domain>(), plain);
    // `new` folds case and does nothing else to letters, so their case cannot change the verdict.
    assert_eq!(Domain::new(&name.to_ascii_uppercase()), plain);
    if let Ok(d) = &plain {
        assert_normal_form(d);
        let expected = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
        assert_eq!(d.as_str(), expected);
    }
    let idna = Domain::from_idna(name);
    let a_label = name.split('.').any(|label| {
        label
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
    });
    if name.is_ascii() && !a_label {
        assert_eq!(idna, plain);
    }
    // An `xn--` label may be refused (it must decode to a valid U-label), never changed otherwise.
    if let Ok(d) = &idna {
        assert_normal_form(d);
        if name.is_ascii() {
            assert_eq!(plain.as_ref(), Ok(d));
        }
        // A stored name checked again must still pass: the conversion is idempotent.
        assert_eq!(Domain::from_idna(d.as_str()).as_ref(), Ok(d));
    }
}

fn assert_normal_form(d: &Domain) {
    let s = d.as_str();
    let upper = s.bytes().any(|b| b.is_ascii_uppercase());
    assert!(
        s.is_ascii() && !upper && !s.ends_with('.') && s.len() <= 253,
        "{s:?}"
    );
    assert!(s.contains('.'), "a single label is no mail domain: {s:?}");
    assert_eq!(Domain::new(s).as_ref(), Ok(d));
    assert_eq!(d.to_string().parse::<Domain>().as_ref(), Ok(d));
}

/// Netstring decoding of a stream: byte 0 picks the limit, byte 1 the read size; the rest is the
/// stream. Feeding it piecewise must give the same frames as decoding it whole.
pub fn netstring_stream(data: &[u8]) {
    let [limit, step, stream @ ..] = data else {
        return;
    };
    let max = usize::from(*limit) * 4;
    let step = usize::from(*step).max(1);
    let whole = frames(stream, stream.len().max(1), max);
    let pieces = frames(stream, step, max);
    assert_eq!(whole, pieces);
}

fn frames(stream: &[u8], step: usize, max: usize) -> (Vec<Vec<u8>>, bool) {
    let mut buffer = Vec::new();
    let mut out = Vec::new();
    for chunk in stream.chunks(step) {
        buffer.extend_from_slice(chunk);
        loop {
            match decode_netstring(&buffer, max) {
                Ok(Some((payload, used))) => {
                    assert!(payload.len() <= max && used <= buffer.len());
                    out.push(payload.to_vec());
                    buffer.drain(..used);
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

/// Netstrings: any bytes encode to a netstring that decodes to the same bytes.
pub fn netstring_roundtrip(data: &[u8]) {
    let mut wire = Vec::new();
    encode_netstring(data, &mut wire);
    assert_eq!(wire.len(), postfix_socketmap::netstring_len(data.len()));
    let decoded = decode_netstring(&wire, data.len()).expect("own encoding decodes");
    assert_eq!(decoded, Some((data, wire.len())));
}

/// `Request::parse`: never panics; an accepted request re-encodes to the same payload.
pub fn socketmap_request(data: &[u8]) {
    if let Ok(request) = Request::parse(data) {
        let mut wire = Vec::new();
        request.encode(&mut wire);
        let (payload, _) = decode_netstring(&wire, wire.len()).unwrap().unwrap();
        assert_eq!(payload, data);
        assert_eq!(Request::parse(payload).as_ref(), Ok(&request));
    }
}

/// `Reply::parse`: never panics; an accepted reply encodes and parses back equal.
pub fn socketmap_reply(data: &[u8]) {
    if let Ok(reply) = Reply::parse(data) {
        let mut wire = Vec::new();
        reply.encode(&mut wire, usize::MAX).unwrap();
        let (payload, _) = decode_netstring(&wire, wire.len()).unwrap().unwrap();
        assert_eq!(Reply::parse(payload).as_ref(), Ok(&reply));
    }
}

/// `Tlsa::from_str` (input read as lossy UTF-8): never panics; an accepted record survives
/// Display → parse unchanged, and its usability is judged without panicking.
pub fn tlsa_text(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let Ok(record) = text.parse::<Tlsa>() else {
        return;
    };
    let shown = record.to_string();
    let again: Tlsa = shown
        .parse()
        .unwrap_or_else(|e| panic!("{shown:?} does not parse again: {e}"));
    assert_eq!(again, record);
    assert!(!record.usability().to_string().is_empty());
}

/// The DER reader behind TLSA matching, on arbitrary bytes taken as a certificate: never panics;
/// a record computed for the bytes matches them, as DANE-EE at depth 0 and DANE-TA only above the
/// leaf; usability of matching type 0 agrees with whether a record could be computed.
pub fn tlsa_certificate(data: &[u8]) {
    for selector in 0..=2u8 {
        for matching in 0..=3u8 {
            let Some(ee) = Tlsa::for_certificate(3, selector, matching, data) else {
                assert!(
                    selector > 1 || matching > 2 || selector == 1,
                    "selector 0 always selects"
                );
                continue;
            };
            assert!(ee.matches_certificate(data));
            let usable = ee.usability() == Usability::Usable;
            if usable {
                let found = chain_match(std::slice::from_ref(&ee), &[data]);
                assert_eq!(found.map(|m| m.depth), Some(0));
                let ta = Tlsa::new(2, selector, matching, ee.data().to_vec());
                assert_eq!(chain_match(std::slice::from_ref(&ta), &[data]), None);
                let found = chain_match(std::slice::from_ref(&ta), &[b"", data]);
                assert_eq!(found.map(|m| m.depth), Some(1));
            }
            if selector == 0 && matching == 0 {
                // A whole certificate as data is usable exactly when it is shaped like one, which
                // is also when selector 1 can find its key.
                let spki = Tlsa::for_certificate(3, 1, 1, data).is_some();
                assert_eq!(usable, spki);
            }
        }
    }
    if let [usage, selector, matching, rest @ ..] = data {
        let _ = Tlsa::new(*usage, *selector, *matching, rest.to_vec()).usability();
    }
}
