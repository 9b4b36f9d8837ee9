//! Redis `method = "aof"` against real redis-servers with `appendonly yes`
//! (SPEC §14): the copy of the multi-part AOF under write load and across a
//! rewrite, its restores (through a private server into a running one, or
//! into a stopped one's data directory) and its verify. Each test runs a
//! redis-server of its own, in the sandbox: the copy reads its files.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cairn::cancel::Cancel;
use cairn::stores::{redis, Target};

use crate::common::redis::{fill, snapshot_expiring, store, EVERY_TYPE};
use crate::common::stores::{assert_ok, successful_run_id, JOB};
use crate::common::{
    assert_lines_equal, flat, tool, tool_bytes, wait_for, Background, PrivateRedis, Sandbox,
};

/// The stored name of an AOF artifact's stream.
const STORED: &str = "appendonlydir.tar.zst";

/// The store lines of `server`, whose files are in `dir`.
fn aof_store(server: &PrivateRedis, dir: &Path) -> String {
    format!(
        "kind = \"redis\"\nurl = \"{}\"\nmethod = \"aof\"\ndata_dir = \"{}\"",
        server.url(),
        dir.display()
    )
}

/// Sets `bulk:1` … `bulk:COUNT` in one script (the AOF gets it as one
/// MULTI … EXEC block).
fn bulk(server: &PrivateRedis, count: u32) {
    let script =
        format!("for i = 1, {count} do redis.call('SET', 'bulk:' .. i, string.rep('x', 100)) end");
    server.cli(0, &["EVAL", &script, "0"]);
}

/// The number of keys matching `pattern` in db 0.
fn count(server: &PrivateRedis, pattern: &str) -> u64 {
    let script = format!("return #redis.call('KEYS', '{pattern}')");
    server
        .cli(0, &["EVAL", &script, "0"])
        .trim()
        .parse()
        .unwrap()
}

/// The pin directories in `dir`.
fn pins(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".cairn-aof-pin."))
        .collect()
}

/// The AOF manifest of the server in `dir`.
fn manifest(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest")).unwrap()
}

/// The files of `dir/appendonlydir`, sorted.
fn aof_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// `cairn restore app --to URL --force` into a fresh server, returned.
fn restore_into_a_fresh_server(sandbox: &Sandbox) -> PrivateRedis {
    let target = PrivateRedis::start();
    let restored = sandbox
        .cairn(&["restore", JOB, "--to", &target.url(), "--force"])
        .run();
    assert_ok(&restored, "restore --to URL");
    target
}

/// `cairn run app` in the background, paused once it has pinned the AOF
/// (`CAIRN_TEST_AOF_PAUSE`); the run and the directory where a `resume`
/// file lets it go on.
fn run_until_pinned(sandbox: &Sandbox) -> (Background, PathBuf) {
    let pause = sandbox.path().join("pause");
    std::fs::create_dir(&pause).unwrap();
    let run = Background::spawn(
        sandbox
            .cairn(&["run", JOB])
            .env("CAIRN_TEST_AOF_PAUSE", &pause),
        sandbox.path(),
        "run",
    );
    wait_for("the run to pin the AOF", Duration::from_secs(60), || {
        pause.join("pinned").exists()
    });
    (run, pause)
}

/// A client that writes `load:1`, `load:2`, … one after another, each
/// acknowledged before the next, until stopped.
struct WriteLoad {
    acknowledged: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WriteLoad {
    fn start(port: u16) -> Self {
        let acknowledged = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let thread = std::thread::spawn({
            let (acknowledged, stop) = (acknowledged.clone(), stop.clone());
            move || {
                let mut n = 0u64;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    stream
                        .write_all(format!("SET load:{n} {n}\r\n").as_bytes())
                        .unwrap();
                    let mut reply = [0u8; 5];
                    stream.read_exact(&mut reply).unwrap();
                    assert_eq!(&reply, b"+OK\r\n");
                    acknowledged.store(n, Ordering::SeqCst);
                }
            }
        });
        WriteLoad {
            acknowledged,
            stop,
            thread: Some(thread),
        }
    }

    fn acknowledged(&self) -> u64 {
        self.acknowledged.load(Ordering::SeqCst)
    }

    /// Stops the writes; returns how many were acknowledged.
    fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().unwrap().join().unwrap();
        self.acknowledged()
    }
}

impl Drop for WriteLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[test]
fn aof_under_write_load_after_a_rewrite_restores_every_key_written_before_the_run() {
    let sandbox = Sandbox::new("aof_load").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    let prefix = sandbox.unique.clone();
    fill(&|args| server.cli(0, args), &prefix, &EVERY_TYPE);
    fill(&|args| server.cli(3, args), &prefix, &EVERY_TYPE);
    bulk(&server, 20_000);
    let settings = server.settings();
    server.rewrite_aof();
    let load = WriteLoad::start(server.port);
    wait_for("the write load to start", Duration::from_secs(10), || {
        load.acknowledged() > 100
    });
    sandbox.write_job(&aof_store(&server, &dir), "");

    let before_run = load.acknowledged();
    let id = sandbox.run_job(&[]);
    let after_run = load.stop();
    assert!(
        after_run > before_run,
        "the load wrote during the run ({before_run} before, {after_run} after)"
    );
    assert_lines_equal(&server.settings(), &settings, "the server's settings");
    assert!(pins(&dir).is_empty(), "the pins are gone: {:?}", pins(&dir));
    let artifact = sandbox.artifact(&id, "redis", &[STORED]);
    for (copy, tar) in artifact.decoded(STORED) {
        let listing = tool(Command::new("tar").arg("-tf").arg(&tar));
        assert_eq!(
            listing.lines().next(),
            Some("appendonlydir"),
            "{copy}: {listing}"
        );
        assert!(
            listing.contains("appendonlydir/appendonly.aof.manifest\n"),
            "{copy}: {listing}"
        );
    }

    let target = restore_into_a_fresh_server(&sandbox);
    for db in [0, 3] {
        assert_eq!(
            snapshot_expiring(&|args| target.cli(db, args), &prefix),
            snapshot_expiring(&|args| server.cli(db, args), &prefix),
            "db {db}"
        );
    }
    assert_eq!(count(&target, "bulk:*"), 20_000);
    // The load's keys: every one acknowledged before the run, and a prefix
    // of the sequence (a consistent copy holds no write without those
    // before it).
    let loaded = count(&target, "load:*");
    assert!(
        loaded >= before_run && loaded <= after_run,
        "{loaded} load keys restored; {before_run} written before the run, {after_run} by its end"
    );
    let gap = format!("for i = 1, {loaded} do if redis.call('EXISTS', 'load:' .. i) == 0 then return i end end return 0");
    assert_eq!(target.cli(0, &["EVAL", &gap, "0"]).trim(), "0");

    sandbox.add_verify_job("[[jobs.check.checks]]\nmin_keys = 20014\n");
    let verified = sandbox.cairn(&["verify", "check"]).run();
    assert_ok(&verified, "verify");
    let said = flat(&verified.stderr);
    assert!(
        said.contains("ok redis-check-aof: All AOF files and manifest are valid"),
        "{said}"
    );
    assert!(said.contains("ok keys >= 20014"), "{said}");
}

#[test]
fn a_rewrite_during_the_copy_leaves_the_pinned_generation_whole() {
    let sandbox = Sandbox::new("aof_rewrite").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    let prefix = sandbox.unique.clone();
    fill(&|args| server.cli(0, args), &prefix, &EVERY_TYPE);
    bulk(&server, 5_000);
    server.rewrite_aof();
    server.cli(0, &["SET", "in-the-incremental-file", "x"]);
    let source = snapshot_expiring(&|args| server.cli(0, args), &prefix);
    let settings = server.settings();
    sandbox.write_job(&aof_store(&server, &dir), "");

    let (run, pause) = run_until_pinned(&sandbox);
    let pinned_manifest = manifest(&dir);
    let pinned_files = aof_files(&dir);
    assert_eq!(
        pins(&dir).len(),
        1,
        "one pin directory while the run holds it"
    );
    // After the pins: a write the copy must leave out, then a whole rewrite
    // that replaces every file of the pinned generation.
    server.cli(0, &["SET", "after-the-pins", "x"]);
    server.rewrite_aof();
    wait_for(
        "Redis to delete the old generation",
        Duration::from_secs(30),
        || {
            aof_files(&dir)
                .iter()
                .all(|name| name.ends_with(".manifest") || !pinned_files.contains(name))
        },
    );
    assert_ne!(manifest(&dir), pinned_manifest);
    std::fs::write(pause.join("resume"), "").unwrap();
    let run = run.wait(Duration::from_secs(60));
    let id = successful_run_id(&run);

    assert!(pins(&dir).is_empty(), "the pins are gone: {:?}", pins(&dir));
    assert_lines_equal(&server.settings(), &settings, "the server's settings");
    let artifact = sandbox.artifact(&id, "redis", &[STORED]);
    for (copy, tar) in artifact.decoded(STORED) {
        let mut listing: Vec<String> = tool(Command::new("tar").arg("-tf").arg(&tar))
            .lines()
            .filter(|line| *line != "appendonlydir")
            .map(|line| line.strip_prefix("appendonlydir/").unwrap().to_owned())
            .collect();
        listing.sort();
        assert_eq!(listing, pinned_files, "{copy}: the pinned generation");
        let copied_manifest = tool(
            Command::new("tar")
                .arg("-xOf")
                .arg(&tar)
                .arg("appendonlydir/appendonly.aof.manifest"),
        );
        assert_eq!(copied_manifest, pinned_manifest, "{copy}");
    }
    let target = restore_into_a_fresh_server(&sandbox);
    assert_eq!(
        snapshot_expiring(&|args| target.cli(0, args), &prefix),
        source
    );
    assert_eq!(count(&target, "bulk:*"), 5_000);
    assert_eq!(
        target.cli(0, &["EXISTS", "in-the-incremental-file"]).trim(),
        "1"
    );
    assert_eq!(
        target.cli(0, &["EXISTS", "after-the-pins"]).trim(),
        "0",
        "the copy is the data as it was pinned"
    );
    sandbox.add_verify_job("[[jobs.check.checks]]\nmin_keys = 5008\n");
    assert_ok(&sandbox.cairn(&["verify", "check"]).run(), "verify");
}

#[test]
fn the_pins_of_a_killed_run_go_with_the_next_run() {
    let sandbox = Sandbox::new("aof_killed").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    server.cli(0, &["SET", "k", "v"]);
    sandbox.write_job(&aof_store(&server, &dir), "");
    let (run, _) = run_until_pinned(&sandbox);
    assert_eq!(unsafe { libc::kill(run.pid() as i32, libc::SIGKILL) }, 0);
    drop(run);
    let left: Vec<String> = pins(&dir);
    assert_eq!(left.len(), 1, "the killed run left its pins");

    let id = sandbox.run_job(&[]);
    assert!(pins(&dir).is_empty(), "the next run removed {left:?}");
    let target = restore_into_a_fresh_server(&sandbox);
    assert_eq!(target.cli(0, &["GET", "k"]).trim(), "v", "artifact {id}");
}

#[test]
fn an_instance_without_appendonly_is_refused_naming_the_setting() {
    let sandbox = Sandbox::new("aof_off").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::in_dir(&dir);
    let settings = server.settings();
    sandbox.write_job(&aof_store(&server, &dir), "");
    let run = sandbox.cairn(&["run", JOB]).run();
    assert_eq!(run.code, 1, "{}", run.stderr);
    let said = flat(&run.stderr);
    assert!(
        said.contains("keeps no append-only file (aof_enabled:0)"),
        "{said}"
    );
    assert!(said.contains("set `appendonly yes`"), "{said}");
    assert!(
        !sandbox.path().join("backups").join(JOB).exists()
            || std::fs::read_dir(sandbox.path().join("backups").join(JOB))
                .unwrap()
                .next()
                .is_none(),
        "no artifact"
    );
    assert_lines_equal(&server.settings(), &settings, "the server's settings");
}

#[test]
fn restore_into_a_data_directory_refuses_a_running_servers_and_fills_a_stopped_ones() {
    let sandbox = Sandbox::new("aof_to_dir").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    let prefix = sandbox.unique.clone();
    fill(&|args| server.cli(0, args), &prefix, &EVERY_TYPE);
    fill(&|args| server.cli(5, args), &prefix, &EVERY_TYPE);
    sandbox.write_job(&aof_store(&server, &dir), "");
    sandbox.run_job(&[]);

    let before = aof_files(&dir);
    let refused = sandbox
        .cairn(&["restore", JOB, "--to", dir.to_str().unwrap(), "--force"])
        .run();
    assert_eq!(refused.code, 1, "{}", refused.stderr);
    let said = flat(&refused.stderr);
    let pid = format!("(pid {} works in it)", server.pid());
    assert!(said.contains(&pid), "{said}");
    assert!(said.contains("stop that server first"), "{said}");
    assert_eq!(aof_files(&dir), before, "nothing changed under the server");

    // A stopped instance's directory, with an old RDB in it.
    let stopped: PathBuf = sandbox.path().join("stopped");
    std::fs::create_dir(&stopped).unwrap();
    std::fs::write(stopped.join("dump.rdb"), "old").unwrap();
    let restored = sandbox
        .cairn(&["restore", JOB, "--to", stopped.to_str().unwrap()])
        .run();
    assert_ok(&restored, "restore --to DIR");
    let said = flat(&format!("{}{}", restored.stdout, restored.stderr));
    assert!(said.contains("`appendonly yes`"), "{said}");
    let names: Vec<String> = std::fs::read_dir(&stopped)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        2,
        "the AOF and the old RDB, no leftovers: {names:?}"
    );
    let started = PrivateRedis::with_aof(&stopped);
    for db in [0, 5] {
        assert_eq!(
            snapshot_expiring(&|args| started.cli(db, args), &prefix),
            snapshot_expiring(&|args| server.cli(db, args), &prefix),
            "db {db}"
        );
    }
    drop(started);
    let again = sandbox
        .cairn(&["restore", JOB, "--to", stopped.to_str().unwrap()])
        .run();
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(
        flat(&again.stderr).contains("holds an append-only file already"),
        "{}",
        again.stderr
    );
}

/// A size taken while Redis writes can end inside a command: the copy
/// ends at the last whole one, so redis-check-aof and a strict load accept
/// it. The test cuts a command itself, at the end of the file Redis
/// appends to, where a write in progress would leave it.
#[test]
fn a_command_cut_at_the_end_of_the_aof_is_left_out_of_the_copy() {
    let sandbox = Sandbox::new("aof_torn").with_servers().under_root();
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    server.cli(0, &["SET", "whole", "v"]);
    let text = manifest(&dir);
    let last = text
        .lines()
        .rfind(|line| line.ends_with("type i"))
        .and_then(|line| line.split(' ').nth(1))
        .unwrap();
    let mut incremental = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("appendonlydir").join(last))
        .unwrap();
    incremental
        .write_all(b"*3\r\n$3\r\nSET\r\n$4\r\ntorn\r\n$5\r\nva")
        .unwrap();
    drop(incremental);
    sandbox.write_job(&aof_store(&server, &dir), "");
    sandbox.add_verify_job("[[jobs.check.checks]]\nmin_keys = 1\n");
    sandbox.run_job(&[]);
    let verified = sandbox.cairn(&["verify", "check"]).run();
    assert_ok(&verified, "verify");
    let target = restore_into_a_fresh_server(&sandbox);
    assert_eq!(target.cli(0, &["GET", "whole"]).trim(), "v");
    assert_eq!(target.cli(0, &["EXISTS", "torn"]).trim(), "0");
}

/// redis-check-aof stands between an artifact and any server: a damaged
/// AOF (whose checksums matched: it was damaged before the copy) fails the
/// load, naming the tool and what it said.
#[test]
fn a_damaged_aof_is_refused_before_a_server_loads_it() {
    let sandbox = Sandbox::new("aof_damaged");
    let dir = sandbox.path().join("redis");
    let server = PrivateRedis::with_aof(&dir);
    for n in 0..10 {
        server.cli(0, &["SET", &format!("k{n}"), "v"]);
    }
    let copy = sandbox.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    tool(
        Command::new("cp")
            .arg("-r")
            .arg(dir.join("appendonlydir"))
            .arg(&copy),
    );
    drop(server);
    let manifest_text = manifest(&copy);
    let incremental = manifest_text
        .lines()
        .rfind(|line| line.ends_with("type i"))
        .and_then(|line| line.split(' ').nth(1))
        .unwrap();
    let path = copy.join("appendonlydir").join(incremental);
    let text = std::fs::read(&path).unwrap();
    let middle = text.len() / 2;
    let mut damaged = text.clone();
    damaged[middle..middle + 3].copy_from_slice(b"???");
    std::fs::write(&path, damaged).unwrap();
    let tar = tool_bytes(
        Command::new("tar")
            .arg("-cf")
            .arg("-")
            .arg("-C")
            .arg(&copy)
            .arg("appendonlydir"),
    );

    let mut target = redis::scratch("cache", &store()).unwrap();
    let error = target
        .load("appendonlydir.tar", &mut &tar[..], &Cancel::default())
        .unwrap_err();
    assert!(
        error
            .message
            .contains("redis-check-aof finds the AOF in the artifact damaged"),
        "{error:?}"
    );
    assert!(error.message.contains(incremental), "{error:?}");
    assert!(target.scratch_pid().is_none(), "no server started");
    target.discard().unwrap();
}
