//! The policy body as postfix-mta-sts-resolver stores it: a JSON object of the policy's fields, in
//! file order, `"mx"` a list of strings, `"max_age"` an integer, every other field a string.

use mta_sts_policy::Policy;
use serde_json::{Map, Value};

use mta_sts_cache::Corruption;

/// `{"version": "STSv1", "mode": "enforce", "mx": ["a", "*.b"], "max_age": 604800}`
#[cfg(feature = "sqlite")]
pub(crate) fn to_json(policy: &Policy) -> String {
    to_json_value(policy).to_string()
}

/// The policy as a JSON object value.
pub(crate) fn to_json_value(policy: &Policy) -> Value {
    let mut object = Map::new();
    let mut mx = Vec::new();
    for line in policy.policy_strings() {
        let (key, value) = line.split_once(": ").unwrap_or((&line, ""));
        match key {
            "mx" => {
                if mx.is_empty() {
                    object.insert("mx".to_owned(), Value::Null);
                }
                mx.push(Value::String(value.to_owned()));
            }
            "max_age" => {
                object.insert(key.to_owned(), Value::from(policy.max_age().as_secs()));
            }
            _ => {
                object.insert(key.to_owned(), Value::String(value.to_owned()));
            }
        }
    }
    if let Some(slot) = object.get_mut("mx") {
        *slot = Value::Array(mx);
    }
    Value::Object(object)
}

/// Reads a stored body back, re-checking it with the policy parser (a tampered or foreign store
/// cannot inject an invalid policy).
#[cfg(feature = "sqlite")]
pub(crate) fn from_json(body: &str) -> Result<Policy, Corruption> {
    let value: Value =
        serde_json::from_str(body).map_err(|_| Corruption::Format("policy body is not JSON"))?;
    from_json_value(&value)
}

/// Reads a policy from its JSON object value.
pub(crate) fn from_json_value(value: &Value) -> Result<Policy, Corruption> {
    let Value::Object(object) = value else {
        return Err(Corruption::Format("policy body is not a JSON object"));
    };
    let mut text = String::new();
    for (key, value) in object {
        match (key.as_str(), value) {
            ("mx", Value::Array(items)) => {
                for item in items {
                    let Value::String(pattern) = item else {
                        return Err(Corruption::Field("mx".to_owned()));
                    };
                    text.push_str(&format!("mx: {pattern}\n"));
                }
            }
            (_, Value::String(s)) => text.push_str(&format!("{key}: {s}\n")),
            (_, Value::Number(n)) if n.is_u64() => text.push_str(&format!("{key}: {n}\n")),
            _ => return Err(Corruption::Field(key.clone())),
        }
    }
    Ok(Policy::parse(text.as_bytes())?)
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn same_shape_as_postfix_mta_sts_resolver() {
        let policy: Policy = "version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\nnote: hi there\n"
            .parse()
            .unwrap();
        let json = to_json(&policy);
        assert_eq!(
            json,
            r#"{"version":"STSv1","mode":"enforce","mx":["mail.example.com","*.example.net"],"max_age":604800,"note":"hi there"}"#
        );
        assert_eq!(from_json(&json).unwrap(), policy);
    }

    #[test]
    fn python_written_bodies_read_back() {
        // json.dumps() output: spaces after separators; max_age may also come as a string.
        let body = r#"{"version": "STSv1", "mode": "testing", "mx": ["mx1.example.com"], "max_age": "86400"}"#;
        let policy = from_json(body).unwrap();
        assert_eq!(policy.max_age().as_secs(), 86_400);
        assert!(from_json(r#"{"version": "STSv1", "mode": "enforce", "max_age": 1}"#).is_err());
        assert!(from_json("[1]").is_err());
        assert!(from_json("not json").is_err());
    }
}
