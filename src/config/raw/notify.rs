//! `[notify.NAME]`: notification channels and the events they are sent.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A notification channel. `kind` selects the type and its options.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Notify {
    /// A JSON POST to a URL (healthchecks.io-style ping URLs work too).
    Webhook(WebhookNotify),
    /// A command, with the event in environment variables.
    Command(CommandNotify),
}

/// The notification kinds, as written in `kind`.
pub const NOTIFY_KINDS: [&str; 2] = ["webhook", "command"];

/// A JSON POST for each event.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookNotify {
    /// The URL every event is posted to.
    pub url: String,
    /// Per-event URLs that replace `url`, e.g. { failure = "https://hc-ping.com/UUID/fail" }.
    #[serde(default)]
    pub urls: BTreeMap<Event, String>,
    /// The events sent (default: failure, recovery, stale).
    pub on: Option<Vec<Event>>,
}

/// A command run for each event, through `sh -c`, with CAIRN_EVENT, CAIRN_JOB,
/// CAIRN_MESSAGE, CAIRN_STATUS and CAIRN_ARTIFACT in its environment (see
/// docs/notifications.md).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandNotify {
    /// The command line.
    pub command: String,
    /// The events sent (default: failure, recovery, stale).
    pub on: Option<Vec<Event>>,
}

/// Events that notifications are sent for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A run or verify failed.
    Failure,
    /// A job succeeded after failing.
    Recovery,
    /// A job's newest good artifact is older than its schedule or rpo allows.
    Stale,
    /// A run or verify succeeded.
    Success,
}

impl Event {
    /// The event as written in the file (`on`, `urls`) and as notifications
    /// name it (CAIRN_EVENT, the webhook payload).
    pub fn name(self) -> &'static str {
        match self {
            Event::Failure => "failure",
            Event::Recovery => "recovery",
            Event::Stale => "stale",
            Event::Success => "success",
        }
    }
}
