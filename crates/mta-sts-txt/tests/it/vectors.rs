use mta_sts_txt::{
    HostProblem, LocalPartProblem, ReportUri, SelectError, StsRecord, SyntaxErrorKind,
    TlsRptRecord, UriErrorKind, UriProblem, select_sts, select_tlsrpt, sts_record_name,
    tlsrpt_record_name,
};

fn sts_id(input: &str) -> Option<String> {
    StsRecord::parse(input.as_bytes())
        .ok()
        .map(|r| r.id().as_str().to_owned())
}

#[test]
fn txt_1_record_name_is_the_policy_domain_only() {
    assert_eq!(
        sts_record_name("mail.example.com"),
        "_mta-sts.mail.example.com"
    );
    assert_eq!(sts_record_name("example.com."), "_mta-sts.example.com.");
}

#[test]
fn txt_2_us_ascii_only() {
    assert_eq!(sts_id("v=STSv1; id=abc; x=\u{e9}"), None);
    let err = StsRecord::parse(b"v=STSv1; id=abc; x=\xff").unwrap_err();
    assert_eq!(err.kind(), &SyntaxErrorKind::NonAscii(0xff));
    assert_eq!(err.position(), 19);
}

#[test]
fn txt_3_version_first_exact_case() {
    for (input, first_field) in [
        ("id=abc; v=STSv1", "id=abc"),
        ("V=STSv1; id=abc", "V=STSv1"),
        ("v=stsv1; id=abc", "v=stsv1"),
    ] {
        let err = StsRecord::parse(input.as_bytes()).unwrap_err();
        // The error says what was expected and what was found instead.
        let SyntaxErrorKind::Version {
            expected, found, ..
        } = err.kind()
        else {
            panic!("{input}: {err}")
        };
        assert_eq!((*expected, found.as_str()), ("v=STSv1", first_field));
        assert_eq!(err.kind().rule(), "TXT-3");
    }
}

#[test]
fn txt_4_id_syntax() {
    let table: &[(&str, Option<&str>)] = &[
        ("v=STSv1; id=20160831085700Z", Some("20160831085700Z")),
        (
            "v=STSv1; id=abcdefghijklmnopqrstuvwxyz012345",
            Some("abcdefghijklmnopqrstuvwxyz012345"),
        ),
        ("v=STSv1; id=abcdefghijklmnopqrstuvwxyz0123456", None),
        ("v=STSv1; id=2016-08-31", None),
        ("v=STSv1; id=", None),
    ];
    for (input, expected) in table {
        assert_eq!(sts_id(input).as_deref(), *expected, "{input}");
    }
    // Ids are compared as exact strings: no ordering, case matters.
    let a = StsRecord::parse(b"v=STSv1; id=ABC").unwrap();
    let b = StsRecord::parse(b"v=STSv1; id=abc").unwrap();
    assert_ne!(a.id(), b.id());
}

#[test]
fn txt_5_id_required() {
    for input in ["v=STSv1", "v=STSv1;", "v=STSv1; ", "v=STSv1; foo=bar"] {
        let err = StsRecord::parse(input.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), &SyntaxErrorKind::MissingId, "{input:?}");
        assert_eq!(
            err.to_string(),
            format!("at byte {}: the required id field is missing", input.len())
        );
    }
}

#[test]
fn txt_6_delimiters_and_whitespace() {
    let table: &[(&str, Option<&str>)] = &[
        ("v=STSv1;id=abc", Some("abc")),
        ("v=STSv1; id=abc;", Some("abc")),
        ("v=STSv1;\tid=abc; ", Some("abc")),
        ("v=STSv1;;id=abc", None),
        ("v=STSv1; id=abc ", None),
        ("v=STSv1 ; id=abc", Some("abc")),
    ];
    for (input, expected) in table {
        assert_eq!(sts_id(input).as_deref(), *expected, "{input:?}");
    }
}

#[test]
fn txt_7_unknown_extensions_ignored_but_checked() {
    let rec = StsRecord::parse(b"v=STSv1; id=abc; foo=bar").unwrap();
    assert_eq!(rec.id().as_str(), "abc");
    assert_eq!(rec.extensions()[0].name(), "foo");
    let long_name = format!("v=STSv1; id=abc; {}=1", "a".repeat(33));
    for input in [
        "v=STSv1; id=abc; foo=",
        "v=STSv1; id=abc; foo=a=b",
        "v=STSv1; id=abc; _x=1",
        &long_name,
    ] {
        assert_eq!(sts_id(input), None, "{input}");
    }
    // The first character of a name has its own message, apart from a bad character later on.
    let err = StsRecord::parse(b"v=STSv1; id=abc; _x=1").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 17: a field name must start with a letter or digit, not '_'"
    );
    let err = StsRecord::parse(b"v=STSv1; id=abc; x:y=1").unwrap_err();
    assert_eq!(err.kind(), &SyntaxErrorKind::InvalidFieldName);
    assert_eq!(err.position(), 18);
}

#[test]
fn txt_8_duplicate_id_first_wins() {
    assert_eq!(sts_id("v=STSv1; id=aaa; id=bbb").as_deref(), Some("aaa"));
    // A later id is ignored without being judged as an id: "a-b" only has to be an extension value.
    assert_eq!(sts_id("v=STSv1; id=abc; id=a-b").as_deref(), Some("abc"));
    // The first id still has to be valid.
    assert_eq!(sts_id("v=STSv1; id=a-b; id=abc"), None);
}

#[test]
fn txt_9_exactly_one_record() {
    let ok = select_sts([["v=spf1 -all"], ["v=STSv1; id=a"]]).unwrap();
    assert_eq!(ok.id().as_str(), "a");
    for rrset in [
        vec![["v=STSv1; id=a"], ["v=STSv1; id=b"]],
        vec![["v=STSv1; id=a"], ["v=STSv1; id=a"]],
        vec![["v=STSv1; id=a"], ["v=STSv1; bad"]],
    ] {
        assert!(matches!(
            select_sts(rrset),
            Err(SelectError::Ambiguous { count: 2, .. })
        ));
    }
    let ok = select_sts([["v=STSv10; id=x"], ["v=STSv1; id=a"]]).unwrap();
    assert_eq!(ok.id().as_str(), "a");
}

#[test]
fn txt_10_strings_joined_without_spaces() {
    let rec = select_sts([vec![&b"v=STSv1; id="[..], b"abc123"]]).unwrap();
    assert_eq!(rec.id().as_str(), "abc123");
}

#[test]
fn rpt_1_record_name() {
    assert_eq!(tlsrpt_record_name("example.com"), "_smtp._tls.example.com");
}

#[test]
fn rpt_2_version() {
    assert!(TlsRptRecord::parse(b"v=TLSRPTv1;rua=mailto:reports@example.com").is_ok());
    let err = TlsRptRecord::parse(b"v=tlsrptv1;rua=mailto:reports@example.com").unwrap_err();
    assert_eq!(
        err.to_string(),
        "at byte 0: the record must begin with \"v=TLSRPTv1\", found \"v=tlsrptv1\""
    );
    assert_eq!(err.kind().rule(), "RPT-2");
    let err = TlsRptRecord::parse(b"rua=mailto:reports@example.com;v=TLSRPTv1").unwrap_err();
    assert!(
        err.to_string()
            .ends_with("found \"rua=mailto:reports@example.com\""),
        "{err}"
    );
}

#[test]
fn rpt_3_rua_list_and_schemes() {
    let rec: TlsRptRecord = "v=TLSRPTv1; rua=mailto:a@example.com, https://r.example.com/v1/tlsrpt"
        .parse()
        .unwrap();
    assert_eq!(rec.rua().len(), 2);
    let ReportUri::Https(https) = &rec.rua()[1] else {
        panic!("expected https")
    };
    assert_eq!(https.host(), "r.example.com");
    assert!(TlsRptRecord::parse(b"v=TLSRPTv1; rua=").is_err());
    for input in ["v=TLSRPTv1; foo=bar", "v=TLSRPTv1;", "v=TLSRPTv1; "] {
        let err = TlsRptRecord::parse(input.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), &SyntaxErrorKind::MissingRua, "{input:?}");
    }
    let rec = TlsRptRecord::parse(b"v=TLSRPTv1; rua=ftp://x.example/").unwrap();
    assert!(rec.rua().is_empty());
    assert_eq!(rec.unsupported_rua(), ["ftp://x.example/"]);
}

#[test]
fn rpt_3_rua_destinations_checked_beyond_the_scheme() {
    // The record stays valid, so reports still go to the good URI; the odd ones are findings.
    let rec: TlsRptRecord =
        "v=TLSRPTv1; rua=mailto:tls..rpt@example.com,https://reports.123/v1,mailto:ok@example.com"
            .parse()
            .unwrap();
    assert_eq!(rec.rua().len(), 3);
    let problems: Vec<Vec<UriProblem>> = rec.rua().iter().map(ReportUri::problems).collect();
    assert!(matches!(
        &problems[0][..],
        [UriProblem::LocalPart {
            reason: LocalPartProblem::Dots,
            ..
        }]
    ));
    assert!(matches!(
        &problems[1][..],
        [UriProblem::HttpsHost {
            reason: HostProblem::NumericTld,
            ..
        }]
    ));
    assert!(problems[2].is_empty());
    for problem in problems.iter().flatten() {
        assert_eq!(problem.rule(), "RPT-3");
        assert!(
            problem
                .to_string()
                .ends_with("reports sent to it may never arrive"),
            "{problem}"
        );
    }
    // A host the grammar refuses still makes the record invalid, as before.
    assert!(TlsRptRecord::parse(b"v=TLSRPTv1; rua=https://a_b.example/").is_err());
}

#[test]
fn rpt_4_reserved_characters() {
    let err = TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com!10m").unwrap_err();
    assert_eq!(
        err.kind(),
        &SyntaxErrorKind::InvalidUri(UriErrorKind::UnencodedReserved)
    );
}

#[test]
fn rpt_5_exactly_one_record() {
    let two = [
        ["v=TLSRPTv1; rua=mailto:a@example.com"],
        ["v=TLSRPTv1; rua=mailto:b@example.com"],
    ];
    assert!(matches!(
        select_tlsrpt(two),
        Err(SelectError::Ambiguous { .. })
    ));
    let mixed = [["v=spf1 -all"], ["v=TLSRPTv1; rua=mailto:b@example.com"]];
    assert!(select_tlsrpt(mixed).is_ok());
}

#[test]
fn rpt_6_strings_joined() {
    let rec = select_tlsrpt([["v=TLSRPTv1;rua=mailto:a@exa", "mple.com"]]).unwrap();
    assert_eq!(rec.rua()[0].as_str(), "mailto:a@example.com");
}

#[test]
fn rpt_7_extensions_ignored() {
    let rec = TlsRptRecord::parse(b"v=TLSRPTv1; rua=mailto:a@example.com; x-foo=1").unwrap();
    assert_eq!(rec.rua().len(), 1);
    assert_eq!(rec.extensions()[0].value(), "1");
}
