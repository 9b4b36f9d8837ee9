//! Support of the `notify` tests: job `files` backs up `data/` to a local
//! destination, and fails while that directory is missing; webhooks are
//! servers inside the test.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::{tool, Cairn, Run, Sandbox};

/// A token in every webhook URL, which no output may show.
pub const SECRET: &str = "5f0c1d2e-secret-token";
pub const FIRST_NOW: &str = "2026-01-01T03:00:00Z";
pub const FIRST_ID: &str = "20260101T030000Z";
pub const SECOND_NOW: &str = "2026-01-02T03:00:00Z";
pub const SECOND_ID: &str = "20260102T030000Z";

/// A command notifier that appends what it was told to events.log.
pub const LOG_COMMAND: &str = r#"printf '%s %s %s %s %s\n' "$CAIRN_EVENT" "$CAIRN_JOB" "$CAIRN_STATUS" "$CAIRN_ARTIFACT" "$CAIRN_MESSAGE" >> events.log"#;

/// One request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "the webhook body is JSON ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers the
/// given statuses in turn, then 200.
pub struct Server {
    port: u16,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    pub fn start(answers: &[u16]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let record = Arc::clone(&received);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let status = answers.lock().unwrap().pop_front().unwrap_or(200);
                if let Some(request) = answer(stream, status) {
                    record.lock().unwrap().push(request);
                }
            }
        });
        Server { port, received }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

/// Reads one request with its Content-Length body and answers `status`.
fn answer(stream: TcpStream, status: u16) -> Option<Received> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .map_or(0, |(_, v)| v.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let reply =
        format!("HTTP/1.1 {status} Status\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    (&stream).write_all(reply.as_bytes()).ok()?;
    Some(Received {
        method,
        path,
        headers,
        body,
    })
}

/// A port nothing listens on: bound, then let go.
pub fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A sandbox with backup.toml: job `files` backs up `data/` to
/// `backups/`, with the given `[notify.*]` tables; the state dir is `state/`.
pub fn sandbox(notify: &str) -> Sandbox {
    let sandbox = Sandbox::new("notify");
    sandbox.write_config(&format!(
        r#"[settings]
scheduler = "none"
state_dir = "state"

[stores.files]
kind = "directory"
path = "data"

[destinations.local]
kind = "local"
path = "backups"

[jobs.files]
store = "files"
schedule = {{ cron = "@daily" }}
to = ["local"]
retention = {{ keep_last = 7 }}

{notify}
"#
    ));
    sandbox
}

/// Creates `data/`, so that the job succeeds.
pub fn create_data(dir: &Path) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data/notes.txt"), "hello\n").unwrap();
}

/// `cairn ARGS` in `dir` at `now`.
pub fn cairn_at(dir: &Path, now: &str, args: &[&str]) -> Run {
    Cairn::new(dir).now(now).args(args).run()
}

/// The lines the command notifier appended.
pub fn command_log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("events.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

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

/// An HTTPS webhook (python3's http.server) with a certificate of a CA
/// that openssl makes for the test, in `dir`: the CA is `dir/ca.pem`, and
/// each POST's path and body are appended to `dir/received`. Killed on drop.
pub struct HttpsServer {
    child: Child,
    pub port: String,
}

impl HttpsServer {
    pub fn start(dir: &Path) -> Self {
        tool(
            Command::new("sh")
                .args(["-c", MAKE_CERTIFICATES])
                .current_dir(dir),
        );
        let mut child = Command::new("python3")
            .args(["-c", HTTPS_SERVER])
            .current_dir(dir)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut port = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut port)
            .unwrap();
        HttpsServer {
            child,
            port: port.trim().to_owned(),
        }
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
