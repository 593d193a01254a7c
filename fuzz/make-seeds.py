#!/usr/bin/env python3
"""Writes the seed corpus (fuzz/corpus/<target>/seed-NN) from the rules' test vectors.

Run from anywhere; it rewrites only files named seed-*. Inputs found by fuzzing are not committed."""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

STS = [
    b"v=STSv1; id=20160831085700Z;", b"v=STSv1;id=abc", b"v=STSv1;\tid=abc; ", b"v=STSv1 ; id=abc",
    b"v=STSv1; id=aaa; id=bbb", b"v=STSv1; id=abc; foo=bar", b"v=STSv1; id=2016-08-31", b"v=STSv1",
    b"v=STSv1;;id=abc", b"V=STSv1; id=abc", b"v=STSv1; id=abc; x=\xc3\xa9", b"v=STSv1; id=abc; _x=1",
    b"v=STSv1; id=" + b"a" * 33,
    # TXT-8: a later id is skipped whatever its value; the first one is still judged as an id.
    b"v=STSv1; id=abc; id=a-b", b"v=STSv1; id=abc; foo=1; id=x.y_z", b"v=STSv1; id=a-b; id=abc",
    b"v=STSv1; ID=abc; id=def", b"v=STSv1; id=abc; id=", b"v=STSv1; id=abc ;\t",
]
TLSRPT = [
    b"v=TLSRPTv1;rua=mailto:reports@example.com",
    b"v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/v1/tlsrpt",
    b"v=TLSRPTv1; rua=mailto:a@example.com!10m", b"v=TLSRPTv1; rua=ftp://x.example/",
    b"v=TLSRPTv1; rua=mailto:a@example.com; x-foo=1", b"v=TLSRPTv1; rua=https://[2001:db8::1]:8443/r?x=%20",
    b"v=TLSRPTv1; rua=mailto:a@example.com; rua=https://r.example.com/", b"v=TLSRPTv1; foo=bar",
]
# RPT-3: rua destinations from ReportUri::problems' tests, then inputs that shape the URIs the
# target builds (local part, "@", a byte choosing host name / IPv4 / IPv6 and options, the host).
RUA = [
    b"v=TLSRPTv1; rua=mailto:tlsrpt@example.com,https://reports.example.com/v1",
    b"v=TLSRPTv1; rua=mailto:tls..rpt@example.com,mailto:.tlsrpt@example.com",
    b"v=TLSRPTv1; rua=mailto:%22tls%20rpt%22@example.com,mailto:%22a%40b%22@example.com",
    b"v=TLSRPTv1; rua=mailto:a@[192.0.2.1],mailto:a@[IPv6:2001:db8::1],mailto:a@[2001:db8::1]",
    b"v=TLSRPTv1; rua=mailto:tls%20rpt@example.com,mailto:a(b)@example.com,mailto:%22ab@example.com",
    b"v=TLSRPTv1; rua=mailto:a%0Ab@example.com,mailto:jos%C3%A9@example.com,mailto:a%FF@example.com",
    b"v=TLSRPTv1; rua=mailto:a@192.0.2.1,mailto:a@example.com.,mailto:a..b@mail.123",
    b"v=TLSRPTv1; rua=https://reports.123/,https://192.0.2.256/,https://[192.0.2.1]/,https://reports.example.com.:8443/",
    b"v=TLSRPTv1; rua=mailto:tls+rpt@example.com?subject=TLS%20report; rua=https://[2001:db8::1]/tlsrpt",
    b"v=TLSRPTv1; rua=MAILTO:a@Example.COM,HTTPS://192.0.2.1/tlsrpt,ftp://x.example/",
    b"v=TLSRPTv1; rua=mailto:%2561%41@example.com,mailto:%22a%5C%22b%22@[IPv6:2001:db8::1]",
    b"v=TLSRPTv1; rua=mailto:a@[ipv6:2001:db8::1]",
    b"tls.rpt@\x00mx.example", b"x@\x02\xc0\x00\x02\x01", b"a!b@\x03\x20\x01\x0d\xb8",
    b"\xff\xfe.\x80@\xf1..-a-.123",
]
SELECT = [
    b"v=spf1 -all\x00v=STSv1; id=a", b"v=STSv1; id=a\x00v=STSv1; id=b", b"v=STSv1; id=\x01abc123",
    b"v=STSv10; id=x\x00v=STSv1; id=a", b"v=TLSRPTv1;rua=mailto:a@exa\x01mple.com",
]
# TXT-3, RPT-2: the records RecordKind::guess is meant for, typos, other protocols' records.
KIND = [
    b"v=STSv1; id=20240101", b"v=TLSRPTv1; rua=mailto:a@example.com", b"v=TLSRPTv2; rua=mailto:a@example.com",
    b"v=TLSPRTv1; rua=mailto:a@example.com", b"v=tlsrptv1; rua=mailto:a@example.com", b"V=STSv1; id=a",
    b" v=STSv1; id=a", b"\tv=STSv1; id=a", b"v=STSv1; rua=mailto:a@example.com", b"rua=mailto:a@example.com",
    b"x=1; RUA=mailto:a@example.com; id=a", b"id=abc; v=STSv1", b"v=1; id=abc",
    b"v=DMARC1; p=none; rua=mailto:d@example.com", b"v=spf1 -all", b"", b"rua", b"ruaa=x; idx=1",
    b" ;\tid =x", b"v=STS", b"v=TLS", b"v=", b"\xff; id=1",
]
RFC = b"version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmx: backupmx.example.com\nmax_age: 604800\n"
POLICY = [
    RFC, RFC.replace(b"\n", b"\r\n"), RFC.rstrip(b"\n"),
    b"version: STSv1\nmode: none\nmax_age: 86400", b"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1",
    b"max_age: 86400\nmx: a.example\nmode: testing\nversion: STSv1",
    b"version: STSv1\n\nmode: none\n  \nmax_age: 31557601\n",
    b"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 86400",
    b"version: STSv1\nmode: none\nfoo_bar: some value\nx: caf\xc3\xa9\nmax_age: 1",
    b"version: STSv1\rmode: none\rmax_age: 1", b"version: STSv1\nmode : none\n mode: x\nmx: b\xc3\xbccher.example\n",
    b"version: STSv1\nmode: enforce\nmx: *.com\nmx: mail.example.com.\nMode: x\nmax_age: 0000604800\n",
    # POL-8: later version, mode and max_age lines are ignored without judging their value...
    b"version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: 86400\nmode: bogus\nversion: STSv2\nmax_age: -5\n",
    b"version: STSv1\nmode: none\nmax_age: 86400\nnote: a\nnote: b\nMode: enforce\n",
    # ...but must still be lines of the grammar.
    b"version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 86400\nmode:\n",
    b"_x: 1\nversion: STSv1\nmode: none\nmax_age: 1",
    # MATCH-1 (address-shaped patterns) and SEC-5 (wildcards too wide, for example.com).
    b"version: STSv1\r\nmode: enforce\r\nmx: 192.0.2.1\r\nmx: *.1.2.3\r\nmx: mx.example.com\r\nmax_age: 86400\r\n",
    b"version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\nmx: *.com\r\nmax_age: 604800\r\n",
]
MX = [
    b"*.example.com\nmail.example.com", b"*.example.com\nfoo.bar.example.com", b"mail.example.com\nMAIL.example.com.",
    b"*.xn--bcher-kva.example\nmx.xn--bcher-kva.example", b"mail.*.example.net\nx", b"b\xc3\xbccher.example\n\xc3\xa9",
]
DOMAIN = [
    b"example.com", b"EXAMPLE.com.", b"a.b", b"1.2.3.com", b"_dmarc.example", b"a--b.example",
    b"XN--bcher-kva.example", b"", b".", b"a..b", b"example.com..", b"-a.example", b"exa mple.com",
    b"example.com:25", b"[mx.example]", b"localhost", b"1.2.3.4", b"x.1", b"a" * 64 + b".example",
    b".".join([b"a" * 62] * 4) + b".example", "bücher.example".encode(), "Bücher.Example.".encode(),
    b"xn--zz.example", "bücher .example".encode(), "ｅｘａｍｐｌｅ.com".encode(), "bücher。example".encode(),
    "faß.de".encode(), b"xn--fa-hia.de", "a\u200db.example".encode(), b"\xff.example",
]
NETSTRING = [
    b"\x19\x01" + b"19:postfix example.com,", b"\x04\x03" + b"3:abc,3:def,", b"\x10\x05" + b"012:hello world!,",
    b"\x10\x02" + b":abc,", b"\x10\x07" + b"3:abc;", b"\x02\x01" + b"99999999999:", b"\xff\xff" + b"0:,0:,",
]
REQUEST = [b"postfix example.com", b"postfix [mx.example.com]:587", b"postfix", b" x", b"map key with spaces", b"postfix \xff"]
REPLY = [b"OK secure match=mail.example.com servername=hostname", b"NOTFOUND ", b"TEMP policy fetch timeout",
         b"TIMEOUT x", b"PERM bad request", b"OK ", b"ok x"]

# DANE-1: TLSA records in zone-file text, usable and not.
TLSA_TEXT = [
    b"3 1 1 0a29707abd76ebbf342d424fbde245de61323d1a8ad2e68efb4dcb21420a7170",
    b"2 0 2 " + b"ab" * 64, b"1 1 1 abcd", b"3 1 1 0A29 707A", b"3 0 0 3000", b"256 1 1 ab", b"3 1 1 abc",
]
# DANE-6: real certificates and a key (the smtp-dane test vectors), and near misses.
def data(name):
    with open(os.path.join(HERE, "..", "crates", "smtp-dane", "tests", "data", name), "rb") as fh:
        return fh.read()
TLSA_CERT = [data("leaf.der"), data("rsa-ca.der"), data("spki.der"), data("leaf.der")[:-1], b"\x30\x80\x00\x00"]

CORPORA = {
    "sts_txt": STS, "sts_txt_roundtrip": STS, "tlsrpt_txt": TLSRPT, "tlsrpt_txt_roundtrip": TLSRPT,
    "tlsrpt_rua_problems": RUA,
    "txt_select": SELECT, "txt_kind": KIND + STS[:3] + TLSRPT[:3], "policy": POLICY, "policy_lint": POLICY, "policy_roundtrip": POLICY,
    "mx_pattern": MX, "domain": DOMAIN, "netstring_stream": NETSTRING, "netstring_roundtrip": [b"hello world!", b"", b"\x00,:"],
    "socketmap_request": REQUEST, "socketmap_reply": REPLY,
    "tlsa_text": TLSA_TEXT, "tlsa_certificate": TLSA_CERT,
}

for target, seeds in CORPORA.items():
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, seed in enumerate(seeds):
        with open(os.path.join(d, f"seed-{i:02}"), "wb") as fh:
            fh.write(seed)
