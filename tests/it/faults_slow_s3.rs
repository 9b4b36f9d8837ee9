//! S3 answering slowly (SPEC §5: "bounded buffers"): a large artifact of
//! incompressible data goes to S3 through a proxy on loopback that lets
//! the upload through at a fixed rate and delays every answer, so the dump
//! runs far ahead of what S3 takes. cairn's peak memory stays bounded
//! whatever the size: ≤ 64 MiB.
//!
//! The suite sends 256 MiB; `CAIRN_FAULT_RSS_MIB=2048` runs the same test
//! with a 2 GiB artifact (about a minute at the proxy's rate).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::faults::{Fixture, FAULT_ID, FAULT_NOW, MIB};

/// The most memory cairn may hold at its peak (VmHWM, `ru_maxrss`).
const PEAK_RSS_LIMIT: u64 = 64 * MIB;

/// What the proxy lets through towards S3, in bytes per second.
const UPLOAD_RATE: u64 = 40 * MIB;

/// How long the proxy holds every piece of S3's answers.
const ANSWER_DELAY: Duration = Duration::from_millis(20);

#[test]
fn a_large_artifact_to_a_slow_s3_keeps_memory_bounded() {
    let mib: u64 = std::env::var("CAIRN_FAULT_RSS_MIB")
        .ok()
        .and_then(|mib| mib.parse().ok())
        .unwrap_or(256);
    let size = mib * MIB;
    let fixture = Fixture::new("slow_s3", 100, "");
    let proxy = SlowProxy::start(&fixture.s3.endpoint);
    fixture.edit_config(
        &format!("endpoint = \"{}\"", fixture.s3.endpoint),
        &format!("endpoint = \"{}\"", proxy.endpoint),
    );
    // S3 only: the point is the upload, and the disk need not hold a copy.
    fixture.edit_config(r#"to = ["local", "offsite"]"#, r#"to = ["offsite"]"#);
    fixture.set_mode(&format!("random {size}"));

    let started = Instant::now();
    // Reaped by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = fixture
        .run_command(FAULT_NOW)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(fixture.path().join("run.stderr")).unwrap())
        .spawn()
        .expect("cairn starts");
    let (status, peak) = wait_with_peak_rss(child.id());
    let took = started.elapsed();
    let stderr = std::fs::read_to_string(fixture.path().join("run.stderr")).unwrap();
    assert_eq!(status, 0, "{stderr}");
    let sent = proxy.sent();
    eprintln!(
        "{mib} MiB to S3 through the proxy in {took:.1?} ({:.1} MiB/s), peak RSS {:.1} MiB",
        sent as f64 / MIB as f64 / took.as_secs_f64(),
        peak as f64 / MIB as f64
    );
    assert!(sent >= size, "only {sent} bytes went through the proxy");
    assert!(
        peak <= PEAK_RSS_LIMIT,
        "cairn's peak RSS was {:.1} MiB for a {mib} MiB artifact (limit {} MiB)",
        peak as f64 / MIB as f64,
        PEAK_RSS_LIMIT / MIB
    );

    // The artifact is whole: the object has the size the manifest records.
    let artifact = format!("{}/app_db/{FAULT_ID}/", fixture.prefix);
    let manifest: Value =
        serde_json::from_slice(&fixture.s3.get(&format!("{artifact}manifest.json"))).unwrap();
    let stream = &manifest["streams"][0];
    assert_eq!(stream["raw_size"], size, "{manifest:#}");
    let objects = fixture.s3.objects(&artifact);
    let stored = objects
        .iter()
        .find(|object| object["Key"].as_str().unwrap().ends_with(".pgdump"))
        .unwrap_or_else(|| panic!("no data object: {objects:#?}"));
    assert_eq!(stored["Size"], stream["stored_size"], "{manifest:#}");
}

/// Waits for process `pid` (a child of this one) and returns its exit code
/// and its peak resident memory, in bytes, from wait4(2)'s rusage.
fn wait_with_peak_rss(pid: u32) -> (i32, u64) {
    let pid = libc::pid_t::try_from(pid).unwrap();
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on a child this test started and has not reaped.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    assert!(libc::WIFEXITED(status), "cairn ended by a signal: {status}");
    // ru_maxrss is in KiB on Linux.
    let peak = u64::try_from(usage.ru_maxrss).unwrap() * 1024;
    (libc::WEXITSTATUS(status), peak)
}

/// A TCP proxy on loopback in front of S3: uploads go through at
/// [`UPLOAD_RATE`] over all connections together, answers after
/// [`ANSWER_DELAY`].
struct SlowProxy {
    endpoint: String,
    sent: Arc<Mutex<Budget>>,
}

/// The bytes let through towards S3 since the proxy started.
struct Budget {
    since: Instant,
    bytes: u64,
}

impl SlowProxy {
    fn start(upstream: &str) -> Self {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let sent = Arc::new(Mutex::new(Budget {
            since: Instant::now(),
            bytes: 0,
        }));
        let budget = sent.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let (client_in, server_out) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let budget = budget.clone();
                std::thread::spawn(move || pipe(client_in, server_out, |n| throttle(&budget, n)));
                std::thread::spawn(move || {
                    pipe(server, client, |_| std::thread::sleep(ANSWER_DELAY))
                });
            }
        });
        SlowProxy { endpoint, sent }
    }

    fn sent(&self) -> u64 {
        self.sent.lock().unwrap().bytes
    }
}

/// Copies `from` to `to`, calling `pace` with each piece's size before it
/// goes on; passes the end on.
fn pipe(mut from: TcpStream, mut to: TcpStream, pace: impl Fn(u64)) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                pace(n as u64);
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

/// Holds a piece of `n` bytes until the rate allows it.
fn throttle(budget: &Mutex<Budget>, n: u64) {
    let due = {
        let mut budget = budget.lock().unwrap();
        budget.bytes += n;
        budget.since + Duration::from_secs_f64(budget.bytes as f64 / UPLOAD_RATE as f64)
    };
    if let Some(wait) = due.checked_duration_since(Instant::now()) {
        std::thread::sleep(wait);
    }
}
