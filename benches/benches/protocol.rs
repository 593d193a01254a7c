//! Parsers and codecs of the protocol crates. Run: `cargo bench -p mta-sts-benches`.
#![allow(missing_docs)] // criterion's macros generate undocumented items

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mta_sts_policy::{MxPattern, Policy, lint};
use mta_sts_txt::{StsRecord, TlsRptRecord, select_sts};
use postfix_socketmap::{
    MAX_REPLY_LEN, Reply, Request, ServerCodec, decode_netstring, encode_netstring,
};
use tokio_util::codec::{Decoder, Encoder};

const TYPICAL: &[u8] =
    b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\nmax_age: 604800\r\n";

fn many_mx(n: usize) -> Vec<u8> {
    let mut body = b"version: STSv1\r\nmode: enforce\r\nmax_age: 604800\r\n".to_vec();
    for i in 0..n {
        body.extend_from_slice(format!("mx: mx{i}.mail.example.com\r\n").as_bytes());
    }
    body
}

/// A 64 KiB body, the RFC's suggested size cap: a valid policy followed by as many long extension
/// lines as the parser's limit allows.
fn max_size() -> Vec<u8> {
    let mut body = TYPICAL.to_vec();
    let value = "an extension value that is ignored ".repeat(18);
    for i in 0..Policy::MAX_EXTENSIONS {
        let line = format!("ext{i}: {}\r\n", value.trim_end());
        if body.len() + line.len() > 64 * 1024 {
            break;
        }
        body.extend_from_slice(line.as_bytes());
    }
    body
}

fn policy(c: &mut Criterion) {
    let mut g = c.benchmark_group("policy_parse");
    for (name, body) in [
        ("typical_5_lines", TYPICAL.to_vec()),
        ("100_mx", many_mx(100)),
        ("64KiB", max_size()),
    ] {
        assert!(
            Policy::parse(&body).is_ok(),
            "{name} must be a valid policy"
        );
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| b.iter(|| Policy::parse(black_box(&body))));
    }
    g.finish();
    c.bench_function("policy_lint/typical_5_lines", |b| {
        b.iter(|| lint(black_box(TYPICAL)))
    });
    let policy = Policy::parse(TYPICAL).unwrap();
    c.bench_function("policy_display/typical_5_lines", |b| {
        b.iter(|| black_box(&policy).to_string())
    });
}

fn txt(c: &mut Criterion) {
    let sts = b"v=STSv1; id=20160831085700Z;";
    let tlsrpt = b"v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1";
    c.bench_function("txt_parse/sts", |b| {
        b.iter(|| StsRecord::parse(black_box(sts)))
    });
    c.bench_function("txt_parse/tlsrpt", |b| {
        b.iter(|| TlsRptRecord::parse(black_box(tlsrpt)))
    });
    let rrset: [&[&[u8]]; 3] = [
        &[b"v=spf1 -all"],
        &[b"google-site-verification=abcdefghijklmnop"],
        &[b"v=STSv1; id=", b"20160831085700Z"],
    ];
    c.bench_function("txt_select/sts_of_3_records", |b| {
        b.iter(|| select_sts(black_box(rrset)))
    });
}

fn socketmap(c: &mut Criterion) {
    let request_wire = b"19:postfix example.com,";
    c.bench_function("netstring_decode/request", |b| {
        b.iter(|| {
            let (payload, _) = decode_netstring(black_box(request_wire), 10_240)
                .unwrap()
                .unwrap();
            Request::parse(payload)
        })
    });
    let request = Request::new("postfix", "example.com").unwrap();
    c.bench_function("netstring_encode/request", |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            black_box(&request).encode(&mut out);
        })
    });
    let reply = Reply::Ok("secure match=mail.example.com:.example.net servername=hostname".into());
    c.bench_function("netstring_encode/reply", |b| {
        let mut out = Vec::with_capacity(128);
        b.iter(|| {
            out.clear();
            black_box(&reply).encode(&mut out, MAX_REPLY_LEN).unwrap();
        })
    });
    let mut reply_wire = Vec::new();
    encode_netstring(reply.to_string().as_bytes(), &mut reply_wire);
    c.bench_function("netstring_decode/reply", |b| {
        b.iter(|| {
            let (payload, _) = decode_netstring(black_box(&reply_wire), MAX_REPLY_LEN)
                .unwrap()
                .unwrap();
            Reply::parse(payload)
        })
    });
    c.bench_function("server_codec/decode_request_encode_reply", |b| {
        let mut codec = ServerCodec::new();
        let mut input = BytesMut::with_capacity(64);
        let mut output = BytesMut::with_capacity(128);
        b.iter(|| {
            input.extend_from_slice(request_wire);
            let request = codec.decode(&mut input).unwrap().unwrap().unwrap();
            black_box(request);
            output.clear();
            codec.encode(&reply, &mut output).unwrap();
        })
    });
}

fn mx_matching(c: &mut Criterion) {
    let wildcard: MxPattern = "*.example.net".parse().unwrap();
    let literal: MxPattern = "mail.example.com".parse().unwrap();
    c.bench_function("mx_match/wildcard_hit", |b| {
        b.iter(|| black_box(&wildcard).matches(black_box("MX1.example.net.")))
    });
    c.bench_function("mx_match/literal_miss", |b| {
        b.iter(|| black_box(&literal).matches(black_box("mail.example.org")))
    });
    let policy = Policy::parse(&many_mx(100)).unwrap();
    c.bench_function("mx_match/policy_100_patterns_last", |b| {
        b.iter(|| black_box(&policy).matches_mx(black_box("mx99.mail.example.com")))
    });
}

criterion_group!(benches, policy, txt, socketmap, mx_matching);
criterion_main!(benches);
