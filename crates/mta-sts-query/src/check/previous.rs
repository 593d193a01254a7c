//! Step 7: the policy id against the policy body, compared with an earlier `check --json` result.

use std::path::Path;

use anyhow::Context;

use super::{Finding, Step};

/// What an earlier `check --json` recorded: enough to tell whether the id and the body changed
/// together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Previous {
    pub(crate) sts_id: Option<String>,
    pub(crate) policy_body: Option<String>,
}

impl Previous {
    /// Reads the JSON document at `path` (fields `sts_id` and `policy_body`).
    pub(crate) fn read(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        Self::parse(&text)
            .with_context(|| format!("{} is not a `check --json` result", path.display()))
    }

    fn parse(json: &[u8]) -> anyhow::Result<Self> {
        let value: serde_json::Value = serde_json::from_slice(json)?;
        let object = value.as_object().context("not a JSON object")?;
        if !object.contains_key("schema_version") {
            anyhow::bail!("no schema_version field");
        }
        let text = |key: &str| object.get(key).and_then(|v| v.as_str()).map(str::to_owned);
        Ok(Self {
            sts_id: text("sts_id"),
            policy_body: text("policy_body"),
        })
    }
}

/// Step 7. Without `--previous` there is nothing to compare, only advice.
pub(super) fn consistency(
    previous: Option<&Previous>,
    id: Option<&str>,
    body: Option<&str>,
) -> Step {
    let title = "policy id and body (--previous)".to_owned();
    let advice = "publish a new id in the TXT record after every change to the policy file, and change the file first";
    let Some(previous) = previous else {
        let finding = Finding::ok(
            None,
            format!("no earlier result given (--previous FILE); {advice}"),
        );
        return Step::new("consistency", title, vec![finding]);
    };
    let (Some(id), Some(body), Some(old_id), Some(old_body)) = (
        id,
        body,
        previous.sts_id.as_deref(),
        previous.policy_body.as_deref(),
    ) else {
        let finding = Finding::ok(
            None,
            "nothing to compare: the id or the policy is missing now or in the earlier result",
        );
        return Step::new("consistency", title, vec![finding]);
    };
    let finding = match (id == old_id, body == old_body) {
        (true, true) => Finding::ok("CACHE-2", format!("id {id} and the policy are unchanged")),
        (false, false) => Finding::ok("CACHE-2", format!("the policy changed and so did the id ({old_id} → {id})")),
        (true, false) => Finding::error(
            "FETCH-11",
            format!("the policy changed but the id is still {id}: senders with a cached copy never fetch the new one"),
        )
        .fix(format!("publish a new id in _mta-sts TXT (e.g. \"v=STSv1; id=<today's date and time>\"); {advice}")),
        (false, true) => Finding::warning(
            "CACHE-9",
            format!("the id changed ({old_id} → {id}) but the policy did not: was the new policy file deployed?"),
        )
        .fix("update the policy file on the policy host before (or with) the TXT record"),
    };
    Step::new("consistency", title, vec![finding])
}

#[cfg(test)]
mod tests {
    use super::super::Verdict;
    use super::*;

    #[test]
    fn previous_results_are_compared() {
        let prev =
            Previous::parse(br#"{"schema_version":1,"sts_id":"a","policy_body":"x"}"#).unwrap();
        let verdict = |id, body| consistency(Some(&prev), Some(id), Some(body)).verdict;
        assert_eq!(verdict("a", "x"), Verdict::Ok);
        assert_eq!(verdict("b", "y"), Verdict::Ok);
        // FETCH-11: same id, new body.
        assert_eq!(verdict("a", "y"), Verdict::Error);
        // CACHE-9: new id, same body.
        assert_eq!(verdict("b", "x"), Verdict::Warning);
        assert!(Previous::parse(b"[]").is_err());
        assert!(Previous::parse(br#"{"sts_id":"a"}"#).is_err());
    }
}
