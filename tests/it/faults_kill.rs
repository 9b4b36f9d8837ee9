//! SIGKILL of `cairn run` at random points (SPEC §5, §10): before the dump
//! starts, mid-stream, while the manifests are written and during the
//! tidy-up after the run. After each kill no artifact that has a manifest
//! is incomplete at either destination, the next run (or `apply`) removes
//! what the killed run left (partial files, temporary names, open multipart
//! uploads, data without a manifest) and succeeds: the killed run's lock
//! does not block it.
//!
//! The kill points come from a seeded PRNG; the seed is printed, and
//! `CAIRN_FAULT_SEED=N` repeats a run of the test.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::faults::Fixture;
use crate::common::{sha256, wait_for};

/// Where in a run a kill lands: the line of cairn's output it waits for,
/// then a random delay up to the phase's length.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// From the start: loading, opening S3, picking the ID, the first bytes.
    Start,
    /// From "dumping": the data streaming to both destinations.
    Stream,
    /// From the last stream's "sha256": the manifests being written.
    Manifests,
    /// From "Backup … complete": the cleanups and prunes after the run.
    Tidy,
}

const PHASES: [Phase; 4] = [Phase::Start, Phase::Stream, Phase::Manifests, Phase::Tidy];

/// At least this many kills must land on a live `cairn run`.
const KILLS: usize = 10;

#[test]
fn sigkill_at_random_points_leaves_no_broken_backup() {
    let started = Instant::now();
    let seed = crate::common::faults::seed();
    let mut random = SplitMix(seed);

    let fixture = Fixture::new("sigkill", 3_000, "");
    // Every good run prunes, so that kills also land in prunes.
    fixture.edit_config("keep_last = 10", "keep_last = 2");
    // About 10 MB/s: the dump streams for a good part of a second.
    fixture.set_mode("throttle 0.1");
    let timing = Timing::measure(&fixture, &at(0));
    eprintln!("{timing:?}");

    let mut landed = BTreeMap::<&str, usize>::new();
    let mut timing = timing;
    for round in 1..=2 * KILLS {
        if landed.values().sum::<usize>() >= KILLS && landed.len() == PHASES.len() {
            break;
        }
        // Round-robin, skipping to a phase not hit yet once there are enough kills.
        let mut phase = PHASES[round % PHASES.len()];
        if landed.values().sum::<usize>() >= KILLS {
            phase = *PHASES
                .iter()
                .find(|phase| !landed.contains_key(phase.name()))
                .unwrap();
        }
        let delay = timing.delay(phase, &mut random);
        let killed = kill_run(&fixture, &at(3 * round), phase, delay, timing.streams);
        eprintln!("round {round}: {phase:?} + {delay:?}: {killed:?}");
        match killed {
            Killed::Landed => *landed.entry(phase.name()).or_default() += 1,
            // The tidy-up is short, and shorter when there is less to prune.
            Killed::Missed => timing.tidy /= 2,
        }
        wait_for(
            "the killed run's dump to end",
            Duration::from_secs(10),
            || fixture.leftover_processes().is_empty(),
        );
        // Whatever the kill left, every manifest is of a whole artifact (at
        // S3 this is checked after the next run, which leaves the killed
        // run's artifacts be unless they lack a manifest: one aws call less).
        Destinations::read_local(&fixture)
            .assert_manifests_complete(&format!("after kill {round}"));

        // The next run cleans up, or `apply` does before it.
        let now = at(3 * round + 1);
        if round % 3 == 0 {
            // The plan says which run left what, at once (no 24 h wait).
            let plan = fixture.cairn(&["plan", "--json"]).now(&now).run();
            assert_eq!(plan.code, 0, "{}", plan.stderr);
            let plan: Value = serde_json::from_str(&plan.stdout).unwrap();
            for action in plan["actions"].as_array().unwrap() {
                if action["action"] == "cleanup" {
                    let reason = action["reason"].as_str().unwrap();
                    assert!(
                        reason.contains("which was interrupted (pid ")
                            || reason.contains("which ended without completing it"),
                        "{action}"
                    );
                    eprintln!("  plan: {} ({reason})", action["address"]);
                }
            }
            let apply = fixture.cairn(&["apply", "--auto-approve"]).now(&now).run();
            assert_eq!(apply.code, 0, "apply after kill {round}:\n{}", apply.stderr);
            Destinations::read(&fixture).assert_clean(&format!("apply after kill {round}"));
        }
        let next = fixture.run(&at(3 * round + 2));
        assert_eq!(
            next.code, 0,
            "the run after kill {round} failed:\n{}",
            next.stderr
        );
        assert!(!next.stderr.contains("already running"), "{}", next.stderr);
        for said in next.stderr.lines() {
            if said.contains("cleaned up") || said.contains("interrupted") {
                eprintln!("  {said}");
            }
        }
        let after = Destinations::read(&fixture);
        after.assert_clean(&format!("the run after kill {round}"));
        assert!(
            after.local.contains_key(&id(3 * round + 2)),
            "the run after kill {round} left no artifact: {:?}",
            after.local.keys()
        );
        assert_state_clean(fixture.path());
    }
    let total: usize = landed.values().sum();
    eprintln!(
        "{total} kills landed ({landed:?}) in {:?}",
        started.elapsed()
    );
    assert!(total >= KILLS, "only {total} kills landed: {landed:?}");
    assert!(
        landed.len() == PHASES.len(),
        "not every phase was hit: {landed:?}"
    );
}

/// `CAIRN_NOW` of the `hour`-th hour of the test: runs an hour apart, so
/// that no leftover is old enough to go for its age alone.
fn at(hour: usize) -> String {
    let time = chrono::DateTime::parse_from_rfc3339("2026-03-01T00:00:00Z").unwrap()
        + chrono::Duration::hours(hour as i64);
    time.to_utc()
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// The artifact ID of a run at `at(hour)`.
fn id(hour: usize) -> String {
    at(hour).replace(['-', ':'], "")
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Start => "start",
            Phase::Stream => "stream",
            Phase::Manifests => "manifests",
            Phase::Tidy => "tidy",
        }
    }
}

/// How long the phases of a good run last.
#[derive(Debug)]
struct Timing {
    /// From the start to "dumping".
    start: Duration,
    /// From "dumping" to the last stream's "sha256".
    stream: Duration,
    /// From "Backup … complete" to the exit: the cleanups and prunes.
    tidy: Duration,
    /// Lines with "sha256": one per stream.
    streams: usize,
}

impl Timing {
    fn measure(fixture: &Fixture, now: &str) -> Self {
        let mut child = Piped::spawn(fixture.run_command(now));
        let mut lines = Vec::new();
        while let Some(line) = child.next(Duration::from_secs(60)) {
            lines.push(line);
        }
        let status = child.child.wait().unwrap();
        let ended = Instant::now() - child.started;
        let text: Vec<&str> = lines.iter().map(|(_, line)| line.as_str()).collect();
        assert!(
            status.success(),
            "the first run failed:\n{}",
            text.join("\n")
        );
        let when = |what: &str| {
            lines
                .iter()
                .filter(|(_, line)| line.contains(what))
                .map(|(at, _)| *at - child.started)
                .collect::<Vec<_>>()
        };
        let dumping = when("dumping")[0];
        let hashed = when(", sha256 ");
        Timing {
            start: dumping,
            stream: *hashed.last().unwrap() - dumping,
            // The first run has nothing to prune: later ones take longer.
            tidy: (ended - when("Backup ")[0]).max(Duration::from_millis(100)),
            streams: hashed.len(),
        }
    }

    fn delay(&self, phase: Phase, random: &mut SplitMix) -> Duration {
        let up_to = match phase {
            Phase::Start => self.start,
            Phase::Stream => self.stream,
            Phase::Manifests => Duration::from_millis(30),
            Phase::Tidy => self.tidy,
        };
        up_to.mul_f64(random.fraction())
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Killed {
    /// SIGKILL ended the run.
    Landed,
    /// The run ended before the kill point.
    Missed,
}

/// Starts `cairn run`, waits for `phase`'s line, then `delay`, and kills it.
fn kill_run(fixture: &Fixture, now: &str, phase: Phase, delay: Duration, streams: usize) -> Killed {
    let mut child = Piped::spawn(fixture.run_command(now));
    let mut hashed = 0;
    let anchor = loop {
        if matches!(phase, Phase::Start) {
            break Some(child.started);
        }
        let Some((at, line)) = child.next(Duration::from_secs(60)) else {
            break None;
        };
        match phase {
            Phase::Stream if line.contains("dumping") => break Some(at),
            Phase::Manifests if line.contains(", sha256 ") => {
                hashed += 1;
                if hashed == streams {
                    break Some(at);
                }
            }
            Phase::Tidy if line.starts_with("Backup ") => break Some(at),
            _ => {}
        }
    };
    if let Some(anchor) = anchor {
        let until = anchor + delay;
        if let Some(pause) = until.checked_duration_since(Instant::now()) {
            std::thread::sleep(pause);
        }
    }
    let pid = libc::pid_t::try_from(child.child.id()).unwrap();
    // SAFETY: kill(2) on the cairn this test started and has not reaped.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let status = child.child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    match status.signal() {
        Some(libc::SIGKILL) => Killed::Landed,
        _ => {
            assert!(
                status.success(),
                "the run to kill failed on its own: {status}"
            );
            Killed::Missed
        }
    }
}

/// A `cairn` whose stdout and stderr lines arrive with the time they were read.
struct Piped {
    child: std::process::Child,
    started: Instant,
    lines: mpsc::Receiver<(Instant, String)>,
}

impl Piped {
    fn spawn(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cairn starts");
        let started = Instant::now();
        let (send, lines) = mpsc::channel();
        let stdout: Box<dyn std::io::Read + Send> = Box::new(child.stdout.take().unwrap());
        let stderr: Box<dyn std::io::Read + Send> = Box::new(child.stderr.take().unwrap());
        for pipe in [stdout, stderr] {
            let send = send.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines() {
                    let Ok(line) = line else { break };
                    if send.send((Instant::now(), line)).is_err() {
                        break;
                    }
                }
            });
        }
        Piped {
            child,
            started,
            lines,
        }
    }

    /// The next line, or `None` once both pipes closed.
    fn next(&mut self, limit: Duration) -> Option<(Instant, String)> {
        match self.lines.recv_timeout(limit) {
            Ok(line) => Some(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("cairn said nothing for {limit:?}"),
        }
    }
}

/// One artifact directory as found: its files (name -> content) and its
/// manifest when it has one.
struct Artifact {
    files: BTreeMap<String, Vec<u8>>,
    manifest: Option<Value>,
}

/// What both destinations hold of job `app_db`, by artifact ID.
struct Destinations {
    local: BTreeMap<String, Artifact>,
    s3: BTreeMap<String, Artifact>,
    /// Multipart uploads open under the prefix.
    uploads: Vec<(String, String)>,
}

impl Destinations {
    fn read_local(fixture: &Fixture) -> Self {
        Destinations {
            local: read_artifacts(&fixture.local().join("app_db")),
            s3: BTreeMap::new(),
            uploads: Vec::new(),
        }
    }

    /// Reads both: S3 is downloaded whole, its uploads listed at the same time.
    fn read(fixture: &Fixture) -> Self {
        let copy = fixture.path().join("s3-copy");
        let _ = std::fs::remove_dir_all(&copy);
        let prefix = format!("{}/app_db/", fixture.prefix);
        let s3 = fixture.s3.clone();
        let uploads = std::thread::scope(|scope| {
            let uploads = scope.spawn(|| s3.uploads(&prefix));
            fixture.s3.download(&prefix, &copy);
            uploads.join().unwrap()
        });
        Destinations {
            s3: read_artifacts(&copy),
            uploads,
            ..Self::read_local(fixture)
        }
    }

    /// Every artifact that has a manifest holds each stream it lists, with
    /// the recorded size and SHA-256.
    fn assert_manifests_complete(&self, when: &str) {
        for (destination, artifacts) in [("local", &self.local), ("offsite", &self.s3)] {
            for (id, artifact) in artifacts {
                let Some(manifest) = &artifact.manifest else {
                    continue;
                };
                assert_eq!(manifest["id"], id.as_str(), "{when}: {destination}");
                for stream in manifest["streams"].as_array().unwrap() {
                    let name = stream["name"].as_str().unwrap();
                    let data = artifact.files.get(name).unwrap_or_else(|| {
                        panic!("{when}: {destination}: artifact {id} lacks {name}")
                    });
                    assert_eq!(
                        stream["stored_size"],
                        data.len() as u64,
                        "{when}: {destination} {id}: {stream}"
                    );
                    assert_eq!(
                        stream["sha256"],
                        sha256(data),
                        "{when}: {destination} {id}: {stream}"
                    );
                }
            }
        }
    }

    /// Complete artifacts only: no data without a manifest, no partial or
    /// temporary file, no open upload.
    fn assert_clean(&self, when: &str) {
        self.assert_manifests_complete(when);
        for (destination, artifacts) in [("local", &self.local), ("offsite", &self.s3)] {
            for (id, artifact) in artifacts {
                assert!(
                    artifact.manifest.is_some(),
                    "{when}: {destination}: artifact {id} has no manifest: {:?}",
                    artifact.files.keys()
                );
                let mut expected: Vec<String> = artifact.manifest.as_ref().unwrap()["streams"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|stream| stream["name"].as_str().unwrap().to_owned())
                    .collect();
                expected.push("manifest.json".to_owned());
                expected.sort();
                let found: Vec<String> = artifact.files.keys().cloned().collect();
                assert_eq!(found, expected, "{when}: {destination}: artifact {id}");
            }
        }
        assert!(
            self.uploads.is_empty(),
            "{when}: multipart uploads left open: {:?}",
            self.uploads
        );
    }
}

/// The artifacts in a job's directory (a local destination, or the copy of
/// the S3 prefix).
fn read_artifacts(dir: &Path) -> BTreeMap<String, Artifact> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    entries
        .flatten()
        .map(|entry| {
            let files: BTreeMap<String, Vec<u8>> = std::fs::read_dir(entry.path())
                .unwrap()
                .flatten()
                .map(|file| {
                    let name = file.file_name().to_string_lossy().into_owned();
                    (name, std::fs::read(file.path()).unwrap_or_default())
                })
                .collect();
            let manifest = files
                .get("manifest.json")
                .map(|bytes| serde_json::from_slice(bytes).expect("a manifest parses"));
            let id = entry.file_name().to_string_lossy().into_owned();
            (id, Artifact { files, manifest })
        })
        .collect()
}

/// No temporary file of an atomic write is left in the state directory.
fn assert_state_clean(sandbox: &Path) {
    let left: Vec<String> = crate::common::relative_files(&sandbox.join("state"))
        .into_iter()
        .filter(|path| path.contains("cairn-tmp"))
        .collect();
    assert!(
        left.is_empty(),
        "temporary files in the state directory: {left:?}"
    );
}

/// SplitMix64: a small PRNG, so that a seed repeats a run of the test.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn fraction(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
