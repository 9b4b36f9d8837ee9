//! A PostgreSQL cluster of a test's own, for the WAL archive (SPEC §12):
//! initdb'd in a temporary directory, run as user `postgres` (initdb
//! refuses root), on a free loopback port and a private socket, with
//! `archive_mode = on` and the `archive_command` the test gives.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::{tool, wait_for, Servers};

pub struct Cluster {
    /// Owned by `postgres`, reachable by it (0755 all the way).
    dir: PathBuf,
    pub data: PathBuf,
    sock: PathBuf,
    pub port: u16,
    bin: PathBuf,
    log: PathBuf,
}

/// Runs `command` as user `postgres`.
fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

impl Cluster {
    /// A new cluster in `dir` (which user `postgres` must be able to reach),
    /// not started, archiving with `archive_command`.
    pub fn init(servers: &Servers, dir: &Path, archive_command: &str) -> Self {
        let bin = PathBuf::from(servers.var("CAIRN_TEST_PG_BIN"));
        std::fs::create_dir_all(dir.join("sock")).unwrap();
        tool(Command::new("chown").args(["-R", "postgres:"]).arg(dir));
        let cluster = Cluster {
            dir: dir.to_owned(),
            data: dir.join("data"),
            sock: dir.join("sock"),
            port: super::notify::closed_port(),
            log: dir.join("log"),
            bin,
        };
        tool(
            as_postgres(&cluster.bin.join("initdb"))
                .arg("-D")
                .arg(&cluster.data)
                .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
                .current_dir(dir),
        );
        cluster.configure(&format!(
            "port = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             wal_level = replica\narchive_mode = on\narchive_command = '{}'\n\
             fsync = off\nmax_wal_senders = 2\n",
            cluster.port,
            cluster.sock.display(),
            archive_command.replace('\'', "''")
        ));
        cluster
    }

    /// Appends `settings` to postgresql.conf.
    pub fn configure(&self, settings: &str) {
        let conf = self.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str("\n# the test\n");
        text.push_str(settings);
        std::fs::write(&conf, text).unwrap();
    }

    pub fn start(&self) {
        let started = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(&self.log)
            .args(["-w", "-t", "60", "start"])
            .current_dir(&self.dir)
            .output()
            .unwrap();
        assert!(
            started.status.success(),
            "PostgreSQL did not start:\n{}",
            self.server_log()
        );
    }

    pub fn stop(&self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "fast", "-w", "stop"])
            .current_dir(&self.dir)
            .output();
    }

    pub fn server_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `psql -At` as `postgres` over the socket.
    pub fn psql(&self, sql: &str) -> String {
        let out = tool(
            Command::new(self.bin.join("psql"))
                .args([
                    "-X",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                ])
                .arg("-h")
                .arg(&self.sock)
                .arg("-p")
                .arg(self.port.to_string())
                .arg("-c")
                .arg(sql),
        );
        out.trim().to_owned()
    }

    /// Ends the current WAL segment; returns its name.
    pub fn switch_wal(&self) -> String {
        self.psql("select pg_walfile_name(pg_switch_wal())")
    }

    /// Waits until the archiver reports `segment` (or a later one) archived.
    pub fn wait_archived(&self, segment: &str) {
        wait_for(
            &format!("{segment} archived"),
            Duration::from_secs(60),
            || {
                let last =
                    self.psql("select coalesce(last_archived_wal, '') from pg_stat_archiver");
                last.as_str() >= segment
            },
        );
    }

    /// How often archive_command failed, and the last file it failed on.
    pub fn archive_failures(&self) -> String {
        self.psql(
            "select failed_count || ' ' || coalesce(last_failed_wal, '-') from pg_stat_archiver",
        )
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"])
            .current_dir(&self.dir)
            .output();
    }
}
