//! Webhooks over HTTPS: the server's certificate is checked against the
//! system's trusted roots (rustls with aws-lc-rs, as for S3). The server is
//! python3's http.server with a certificate from a CA that openssl makes
//! for the test.

use serde_json::Value;

use crate::common::notify::{
    cairn_at, create_data, sandbox, HttpsServer, FIRST_NOW, SECOND_ID, SECOND_NOW, SECRET,
};
use crate::common::Cairn;

#[test]
fn https_webhooks_check_the_certificate_against_the_system_roots() {
    let tls = tempfile::tempdir().unwrap();
    let server = HttpsServer::start(tls.path());
    let dir = sandbox(&format!(
        r#"[notify.secure]
kind = "webhook"
url = "https://localhost:{}/ping/{SECRET}"
on = ["success"]
"#,
        server.port
    ));
    let dir = dir.path();
    create_data(dir);

    // A certificate this system does not trust is a failed delivery.
    let untrusted = cairn_at(dir, FIRST_NOW, &["run", "files"]);
    assert_eq!(untrusted.code, 0, "{}", untrusted.stderr);
    assert!(
        untrusted
            .stderr
            .lines()
            .any(|l| l.starts_with("warning: notifier `secure`") && l.contains("UnknownIssuer")),
        "{}",
        untrusted.stderr
    );
    assert!(
        !tls.path().join("received").exists(),
        "nothing was sent before the certificate was checked"
    );

    // SSL_CERT_FILE replaces the system's roots (as for curl and openssl).
    let trusted = Cairn::new(dir)
        .now(SECOND_NOW)
        .env("SSL_CERT_FILE", tls.path().join("ca.pem"))
        .args(["run", "files"])
        .run();
    assert_eq!(trusted.code, 0, "{}", trusted.stderr);
    assert!(
        !trusted.stderr.contains("warning: notifier"),
        "{}",
        trusted.stderr
    );
    let received = std::fs::read_to_string(tls.path().join("received")).unwrap();
    let (path, body) = received.trim_end().split_once(' ').unwrap();
    assert_eq!(path, format!("/ping/{SECRET}"));
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (&body["event"], &body["artifact"]),
        (&"success".into(), &SECOND_ID.into())
    );
}
