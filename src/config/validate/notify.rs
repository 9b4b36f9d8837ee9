//! `[notify.NAME]`: webhook URLs are http(s), commands are not empty, and
//! each notifier is sent some events.

use std::collections::BTreeMap;

use super::{path, Checker};
use crate::config::model::Notifier;
use crate::config::name::Name;
use crate::config::raw::{self, Event};
use crate::config::redact::redact_token_url;

pub(super) fn check_notify(
    checker: &mut Checker,
    notify: BTreeMap<Name, raw::Notify>,
) -> BTreeMap<Name, Notifier> {
    let mut checked = BTreeMap::new();
    for (name, channel) in notify {
        let at = |key: &str| path(&["notify", name.as_str(), key]);
        let on = match &channel {
            raw::Notify::Webhook(webhook) => {
                for (key, url) in std::iter::once(("url".to_owned(), &webhook.url)).chain(
                    webhook
                        .urls
                        .iter()
                        .map(|(event, url)| (format!("urls.{}", event.name()), url)),
                ) {
                    let at = key
                        .split('.')
                        .fold(path(&["notify", name.as_str()]), |p, k| p.key(k));
                    if !(url.starts_with("http://") || url.starts_with("https://")) {
                        checker.error(
                            &at,
                            format!("`{}` is not an http(s) URL", redact_token_url(url)),
                            "not a URL",
                            "write a URL such as \"https://hc-ping.com/UUID\"",
                        );
                    } else if url
                        .split_once("://")
                        .and_then(|(_, rest)| rest.split(['/', '?', '#']).next())
                        .is_some_and(|authority| authority.contains('@'))
                    {
                        checker.error(
                            &at,
                            format!(
                                "`{}` carries a user name or password before the host",
                                redact_token_url(url)
                            ),
                            "credentials in the URL",
                            "cairn does not send URL credentials: use a URL whose path or query carries the token (as healthchecks and Slack do)",
                        );
                    }
                }
                &webhook.on
            }
            raw::Notify::Command(command) => {
                if command.command.trim().is_empty() {
                    checker.error(
                        &at("command"),
                        "the notification command is empty",
                        "empty command",
                        "write the command line to run through sh -c",
                    );
                }
                &command.on
            }
        };
        if on.as_ref().is_some_and(Vec::is_empty) {
            checker.error(&at("on"), format!("notifier `{name}` is sent no events"), "no events", "list events such as on = [\"failure\", \"recovery\", \"stale\"], or remove `on` for that default");
        }
        let events = on
            .clone()
            .unwrap_or_else(|| vec![Event::Failure, Event::Recovery, Event::Stale]);
        checked.insert(name, Notifier { channel, events });
    }
    checked
}
