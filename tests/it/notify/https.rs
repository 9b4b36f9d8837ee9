//! Webhooks over HTTPS: the server's certificate is checked against the
//! system's trusted roots (rustls with aws-lc-rs, as for S3). The server is
//! python3's http.server with a certificate from a CA that openssl makes
//! for the test.

use std::io::{BufRead, BufReader};

use serde_json::Value;

use super::{cairn_at, create_data, sandbox, FIRST_NOW, SECOND_ID, SECOND_NOW, SECRET};
use crate::common::{cairn, run};

/// An HTTPS server (python3's http.server) whose certificate for
/// `localhost` is signed by a CA of the test's own; it appends each POST's
/// path and body to `received`.
const HTTPS_SERVER: &str = r#"
import http.server, ssl, sys
class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open("received", "ab") as out:
            out.write(self.path.encode() + b" " + body + b"\n")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("leaf.pem", "leaf.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

/// Makes a CA (`ca.pem`) and a certificate for `localhost` it signed.
const MAKE_CERTIFICATES: &str = r#"set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj "/CN=cairn test CA"
openssl req -newkey rsa:2048 -nodes -keyout leaf.key -out leaf.csr -subj /CN=localhost
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out leaf.pem -days 2 -extfile leaf.ext
"#;

struct Python(std::process::Child);

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn https_webhooks_check_the_certificate_against_the_system_roots() {
    let tls = tempfile::tempdir().unwrap();
    let made = run(std::process::Command::new("sh")
        .args(["-c", MAKE_CERTIFICATES])
        .current_dir(tls.path()));
    assert_eq!(made.code, 0, "openssl makes certificates: {}", made.stderr);
    let mut server = Python(
        std::process::Command::new("python3")
            .args(["-c", HTTPS_SERVER])
            .current_dir(tls.path())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs"),
    );
    let mut port = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let dir = sandbox(&format!(
        r#"[notify.secure]
kind = "webhook"
url = "https://localhost:{}/ping/{SECRET}"
on = ["success"]
"#,
        port.trim()
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
    let trusted = run(cairn(dir)
        .env("CAIRN_NOW", SECOND_NOW)
        .env("SSL_CERT_FILE", tls.path().join("ca.pem"))
        .args(["run", "files"]));
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
