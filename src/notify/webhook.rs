//! The `webhook` notifier: a JSON POST over hyper and rustls (aws-lc-rs,
//! the system's root certificates), the HTTP stack aws-sdk already brings.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{CONTENT_TYPE, USER_AGENT};
use hyper::{Request, Uri};
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::{DeliveryError, Notice};
use crate::config::raw::WebhookNotify;
use crate::config::redact_token_url;

/// The version of the webhook body's format.
pub const FORMAT_VERSION: u32 = 1;

const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
const RETRY_DELAY: Duration = Duration::from_secs(1);

/// The webhook body: the notice between its format version and where it
/// came from.
#[derive(Serialize)]
struct Body<'a> {
    format_version: u32,
    #[serde(flatten)]
    notice: &'a Notice,
    cairn_version: &'static str,
    host: String,
}

/// A webhook URL and what of it a warning may show.
struct Target {
    uri: Uri,
    /// Scheme and host (and port): never the credentials, path or query,
    /// which may hold a token ([`redact_token_url`]).
    shown: String,
}

impl Target {
    fn parse(url: &str) -> Result<Self, DeliveryError> {
        let uri: Uri = url.parse().map_err(DeliveryError::BadUrl)?;
        if uri.scheme_str().is_none() || uri.host().is_none() {
            return Err(DeliveryError::NoHost);
        }
        let shown = redact_token_url(url);
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(DeliveryError::Credentials(shown));
        }
        Ok(Target { uri, shown })
    }

    /// `message` without the URL's path and query, should an error quote them.
    fn scrub(&self, message: String) -> String {
        let secrets = [
            self.uri.path_and_query().map(|p| p.as_str()),
            Some(self.uri.path()),
        ];
        secrets
            .into_iter()
            .flatten()
            .filter(|secret| secret.len() > 1)
            .fold(message, |message, secret| message.replace(secret, "/…"))
    }
}

pub(super) async fn post(webhook: &WebhookNotify, notice: &Notice) -> Result<(), DeliveryError> {
    let url = webhook.urls.get(&notice.event).unwrap_or(&webhook.url);
    let target = Target::parse(url)?;
    let body = Body {
        format_version: FORMAT_VERSION,
        notice,
        cairn_version: env!("CARGO_PKG_VERSION"),
        host: host_name(),
    };
    let body = Bytes::from(serde_json::to_vec(&body).expect("notices serialize"));
    let delivered = if target.uri.scheme_str() == Some("https") {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(DeliveryError::Roots)?
            .https_only()
            .enable_http1()
            .build();
        deliver(
            Client::builder(TokioExecutor::new()).build(connector),
            &target.uri,
            body,
        )
        .await
    } else {
        let client = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
        deliver(client, &target.uri, body).await
    };
    delivered
        .map_err(|error| DeliveryError::Http(target.scrub(format!("{} {error}", target.shown))))
}

/// POSTs `body`, retrying once after a connection error or a 5xx answer.
async fn deliver<C>(client: Client<C, Full<Bytes>>, uri: &Uri, body: Bytes) -> Result<(), String>
where
    C: Connect + Clone + Send + Sync + 'static,
{
    for attempt in 1..=2 {
        let request = Request::post(uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("cairn/", env!("CARGO_PKG_VERSION")))
            .body(Full::new(body.clone()))
            .expect("a parsed URI and fixed headers make a request");
        let (error, retry) =
            match tokio::time::timeout(WEBHOOK_TIMEOUT, client.request(request)).await {
                Ok(Ok(response)) if response.status().is_success() => return Ok(()),
                Ok(Ok(response)) => {
                    let status = response.status();
                    (format!("answered {status}"), status.is_server_error())
                }
                Ok(Err(error)) => (request_error(&error), true),
                // The receiver may have acted on it: no second request.
                Err(_) => (
                    format!("did not answer within {} s", WEBHOOK_TIMEOUT.as_secs()),
                    false,
                ),
            };
        if retry && attempt == 1 {
            tokio::time::sleep(RETRY_DELAY).await;
            continue;
        }
        return Err(match attempt {
            1 => error,
            _ => format!("{error} (also on the retry)"),
        });
    }
    unreachable!("the second attempt returns")
}

/// "cannot be reached: tcp connect error: Connection refused (os error 111)".
fn request_error(error: &hyper_util::client::legacy::Error) -> String {
    let mut parts = vec![if error.is_connect() {
        "cannot be reached"
    } else {
        "dropped the request"
    }
    .to_owned()];
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        parts.push(cause.to_string());
        source = cause.source();
    }
    parts.join(": ")
}

/// This machine's name, for the webhook body.
fn host_name() -> String {
    let mut buffer = [0u8; 256];
    // SAFETY: gethostname writes at most buffer.len() bytes into the buffer.
    let result = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
    if result != 0 {
        return String::new();
    }
    let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
    String::from_utf8_lossy(&buffer[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_show_a_url_without_its_path_query_or_credentials() {
        let target = Target::parse("https://hc-ping.com/0f1e-secret/fail?token=x").unwrap();
        assert_eq!(target.shown, "https://hc-ping.com/…");
        assert_eq!(
            target.scrub("GET /0f1e-secret/fail?token=x failed".to_owned()),
            "GET /… failed"
        );
        let with_port = Target::parse("http://127.0.0.1:8080/ping").unwrap();
        assert_eq!(with_port.shown, "http://127.0.0.1:8080/…");
        let error = Target::parse("https://user:hunter2@example.com/hook")
            .err()
            .unwrap();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}
