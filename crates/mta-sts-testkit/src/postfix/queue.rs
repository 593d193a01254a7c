//! The queue listing of `postqueue -j` (Postfix >= 3.1), one JSON object per line.

use std::io;

use serde::Deserialize;

use super::log::QueueId;

/// The queue a message is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum QueueName {
    /// Submitted locally, not yet picked up.
    Maildrop,
    /// Waiting for the queue manager: new mail, and deferred mail whose retry time has come.
    Incoming,
    /// Being delivered.
    Active,
    /// Waiting for a retry after a temporary failure.
    Deferred,
    /// Put on hold.
    Hold,
    /// A queue this version does not know.
    #[serde(other)]
    Other,
}

/// One recipient still to be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct QueuedRecipient {
    /// The address.
    pub address: String,
    /// Why the last attempt failed (for deferred mail), such as `Server certificate not verified`.
    #[serde(default)]
    pub delay_reason: Option<String>,
}

/// One message in the queue.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct QueuedMessage {
    /// The message.
    #[serde(deserialize_with = "queue_id")]
    pub queue_id: QueueId,
    /// Which queue it is in.
    pub queue_name: QueueName,
    /// The envelope sender (`MAILER-DAEMON` for bounces).
    pub sender: String,
    /// The recipients not yet delivered.
    pub recipients: Vec<QueuedRecipient>,
}

fn queue_id<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<QueueId, D::Error> {
    let text = String::deserialize(deserializer)?;
    QueueId::parse(&text)
        .ok_or_else(|| serde::de::Error::custom(format!("not a queue id: {text:?}")))
}

/// Parses the output of `postqueue -j`.
pub(super) fn parse(output: &str) -> io::Result<Vec<QueuedMessage>> {
    output
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|e| io::Error::other(format!("postqueue -j line {line:?}: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postqueue_json_lines() {
        // As Postfix 3.7 prints it.
        let output = r#"{"queue_name": "deferred", "queue_id": "B385998E0E4", "arrival_time": 1796138191, "message_size": 2229, "forced_expire": false, "sender": "MAILER-DAEMON", "recipients": [{"address": "sender@sender.test", "delay_reason": "unable to look up host sender.test: Temporary failure in name resolution"}]}
{"queue_name": "active", "queue_id": "ABB8B98E0C1", "arrival_time": 1796138191, "message_size": 252, "sender": "a@sender.test", "recipients": [{"address": "b@enforce.test"}]}
"#;
        let queue = parse(output).unwrap();
        assert_eq!(queue.len(), 2);
        assert_eq!(queue[0].queue_name, QueueName::Deferred);
        assert_eq!(queue[0].queue_id.as_str(), "B385998E0E4");
        assert_eq!(
            queue[0].recipients[0].delay_reason.as_deref(),
            Some("unable to look up host sender.test: Temporary failure in name resolution")
        );
        assert_eq!(queue[1].queue_name, QueueName::Active);
        assert_eq!(queue[1].recipients[0].delay_reason, None);
        assert!(parse("").unwrap().is_empty());
        assert!(parse("{").is_err());
    }
}
