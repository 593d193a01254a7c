use mta_sts_txt::{StsRecord, TlsRptRecord};
use proptest::prelude::*;

fn ext_field() -> impl Strategy<Value = String> {
    ("[a-zA-Z0-9][a-zA-Z0-9_.-]{0,31}", "[!-:<>-~]{1,20}")
        .prop_filter("reserved names", |(n, _)| n != "id" && n != "rua")
        .prop_map(|(n, v)| format!("{n}={v}"))
}

fn delim() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![";", "; ", " ;", "\t;\t", " ; "])
}

proptest! {
    #[test]
    fn sts_record_round_trips(
        id in "[a-zA-Z0-9]{1,32}",
        exts in prop::collection::vec((delim(), ext_field()), 0..4),
        id_pos in 0usize..4,
        trailing in prop::option::of(delim()),
    ) {
        let mut fields: Vec<(&str, String)> = exts;
        fields.insert(id_pos.min(fields.len()), ("; ", format!("id={id}")));
        let mut text = String::from("v=STSv1");
        for (d, f) in &fields {
            text.push_str(d);
            text.push_str(f);
        }
        if let Some(d) = trailing {
            text.push_str(d);
        }
        let parsed = StsRecord::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed.id().as_str(), id.as_str());
        let again: StsRecord = parsed.to_string().parse().unwrap();
        prop_assert_eq!(again, parsed);
    }

    #[test]
    fn tlsrpt_record_round_trips(
        locals in prop::collection::vec("[a-z0-9.+-]{1,10}", 1..4),
        ext in prop::option::of(ext_field()),
    ) {
        let rua: Vec<String> = locals.iter().map(|l| format!("mailto:{l}@example.com")).collect();
        let mut text = format!("v=TLSRPTv1; rua={}", rua.join(" , "));
        if let Some(e) = ext {
            text.push_str("; ");
            text.push_str(&e);
        }
        let parsed = TlsRptRecord::parse(text.as_bytes()).unwrap();
        prop_assert_eq!(parsed.rua().len(), rua.len());
        let again: TlsRptRecord = parsed.to_string().parse().unwrap();
        prop_assert_eq!(again, parsed);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = StsRecord::parse(&bytes);
        let _ = TlsRptRecord::parse(&bytes);
    }
}
