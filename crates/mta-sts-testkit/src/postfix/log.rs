//! What the tests read from a Postfix log: queue ids and delivery attempts (no I/O here).

use std::fmt;

/// A Postfix queue id, as logged (`3F2A1C0A9B1` in the short format).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueueId(String);

impl QueueId {
    /// The id as Postfix writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `text` if it looks like a queue id: ASCII letters and digits, at least 6 of them.
    pub(super) fn parse(text: &str) -> Option<Self> {
        (text.len() >= 6 && text.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| Self(text.to_owned()))
    }
}

impl fmt::Display for QueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The outcome of one delivery attempt for one recipient (the `status=` of the log line).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryStatus {
    /// Delivered: the server accepted the message.
    Sent,
    /// A temporary failure: the message stays queued and is retried.
    Deferred,
    /// A permanent failure: the message was returned to the sender.
    Bounced,
    /// The message stayed queued too long and was returned.
    Expired,
}

impl DeliveryStatus {
    fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "sent" => Self::Sent,
            "deferred" => Self::Deferred,
            "bounced" => Self::Bounced,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// One delivery attempt as Postfix logged it:
/// `QUEUEID: to=<rcpt>, relay=..., delay=..., delays=..., dsn=4.7.5, status=deferred (detail)`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The message.
    pub queue_id: QueueId,
    /// The recipient address, without angle brackets.
    pub recipient: String,
    /// `host[address]:port` of the server, or `none` when no connection was made.
    pub relay: String,
    /// The enhanced status code (RFC 3463), `2.0.0` for a delivery.
    pub dsn: String,
    /// What happened.
    pub status: DeliveryStatus,
    /// The text in parentheses after the status: the server's reply, or Postfix's reason such
    /// as `Server certificate not verified`.
    pub detail: String,
    /// The whole log line.
    pub line: String,
}

/// The program name and the text after the `name/program[pid]: ` tag of a log line.
fn split_tag(line: &str) -> Option<(&str, &str)> {
    let (head, text) = line.split_once("]: ")?;
    let tag = head.rsplit(' ').next()?;
    let program = tag.split('[').next()?.rsplit('/').next()?;
    Some((program, text))
}

/// The queue id that cleanup(8) gave the message with this Message-ID (without brackets).
pub(super) fn queue_id_for(log: &str, message_id: &str) -> Option<QueueId> {
    let wanted = format!("message-id=<{message_id}>");
    log.lines().find_map(|line| {
        let (program, text) = split_tag(line)?;
        let (id, rest) = text.split_once(": ")?;
        (program == "cleanup" && rest == wanted)
            .then(|| QueueId::parse(id))
            .flatten()
    })
}

/// A delivery attempt, if `line` logs one.
pub(super) fn parse_delivery(line: &str) -> Option<Delivery> {
    let (_, text) = split_tag(line)?;
    let (id, rest) = text.split_once(": ")?;
    let queue_id = QueueId::parse(id)?;
    let (recipient, rest) = rest.strip_prefix("to=<")?.split_once(">, ")?;
    // The detail may contain ", " itself, so the status is found first and everything before it
    // is the comma-separated fields.
    let (fields, outcome) = rest.split_once("status=")?;
    let (word, detail) = outcome.split_once(' ').unwrap_or((outcome, ""));
    let status = DeliveryStatus::parse(word)?;
    let detail = detail
        .strip_prefix('(')
        .and_then(|d| d.strip_suffix(')'))
        .unwrap_or(detail);
    let field = |name: &str| {
        fields
            .split(", ")
            .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
            .unwrap_or_default()
            .to_owned()
    };
    Some(Delivery {
        queue_id,
        recipient: recipient.to_owned(),
        relay: field("relay"),
        dsn: field("dsn"),
        status,
        detail: detail.to_owned(),
        line: line.to_owned(),
    })
}

/// Every delivery attempt for `queue_id` and `recipient` (compared ignoring ASCII case), oldest
/// first.
pub(super) fn deliveries(log: &str, queue_id: &QueueId, recipient: &str) -> Vec<Delivery> {
    log.lines()
        .filter_map(parse_delivery)
        .filter(|d| &d.queue_id == queue_id && d.recipient.eq_ignore_ascii_case(recipient))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Dec 01 15:16:31 h testkit-1-0/pickup[1270]: ABB8B98E0C1: uid=0 from=<sender@sender.test>
Dec 01 15:16:31 h testkit-1-0/cleanup[1400]: ABB8B98E0C1: message-id=<1.2@testkit.invalid>
Dec 01 15:16:31 h testkit-1-0/smtp[1403]: ABB8B98E0C1: to=<rcpt@enforce.test>, relay=enforce.test[127.0.0.1]:2525, delay=0.2, delays=0.03/0.01/0.1/0.06, dsn=4.7.5, status=deferred (Server certificate not verified)
Dec 01 15:16:32 h testkit-1-0/smtp[1403]: ABB8B98E0C1: to=<rcpt@enforce.test>, orig_to=<Rcpt@enforce.test>, relay=enforce.test[127.0.0.1]:2525, delay=1.1, delays=1/0/0.05/0.05, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued, really)
Dec 01 15:16:33 h testkit-1-0/smtp[1403]: B385998E0E4: to=<sender@sender.test>, relay=none, delay=0, delays=0/0/0/0, dsn=4.4.4, status=deferred (unable to look up host sender.test: Temporary failure in name resolution)
Dec 01 15:16:34 h testkit-1-0/qmgr[1273]: ABB8B98E0C1: removed
";

    #[test]
    fn queue_ids_by_message_id() {
        assert_eq!(
            queue_id_for(LOG, "1.2@testkit.invalid"),
            QueueId::parse("ABB8B98E0C1")
        );
        assert_eq!(queue_id_for(LOG, "1.3@testkit.invalid"), None);
        assert_eq!(queue_id_for(LOG, "1.2"), None);
    }

    #[test]
    fn delivery_lines() {
        let id = QueueId::parse("ABB8B98E0C1").unwrap();
        let seen = deliveries(LOG, &id, "RCPT@enforce.test");
        let summary: Vec<_> = seen
            .iter()
            .map(|d| {
                (
                    d.status,
                    d.dsn.as_str(),
                    d.relay.as_str(),
                    d.detail.as_str(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    DeliveryStatus::Deferred,
                    "4.7.5",
                    "enforce.test[127.0.0.1]:2525",
                    "Server certificate not verified"
                ),
                (
                    DeliveryStatus::Sent,
                    "2.0.0",
                    "enforce.test[127.0.0.1]:2525",
                    "250 2.0.0 Ok: queued, really"
                ),
            ]
        );
        let other = deliveries(
            LOG,
            &QueueId::parse("B385998E0E4").unwrap(),
            "sender@sender.test",
        );
        assert_eq!(other.len(), 1);
        assert_eq!(other[0].relay, "none");
        assert!(
            other[0]
                .detail
                .starts_with("unable to look up host sender.test")
        );
        for line in LOG.lines().filter(|l| !l.contains(" to=<")) {
            assert_eq!(parse_delivery(line), None, "{line}");
        }
    }

    #[test]
    fn queue_id_shapes() {
        for (text, ok) in [
            ("ABB8B98E0C1", true),
            ("4XyZk03bqKzB7", true),
            ("ABC", false),
            ("a b c d e f", false),
            ("", false),
        ] {
            assert_eq!(QueueId::parse(text).is_some(), ok, "{text:?}");
        }
    }
}
