//! S3: the suite's Garage (`CAIRN_TEST_S3_*`, `AWS_*`) or one a test starts
//! for itself, looked at with the `aws` CLI, independently of cairn.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{alive, root, tool_bytes, wait_for, Servers};

/// An S3 endpoint with its bucket and credentials.
#[derive(Clone)]
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    access_key: String,
    secret_key: String,
}

impl S3 {
    /// The S3 of `servers`: the suite's Garage, or the one a
    /// [`PrivateGarage`] describes.
    pub fn new(servers: &Servers) -> Self {
        S3 {
            endpoint: servers.var("CAIRN_TEST_S3_ENDPOINT").to_owned(),
            bucket: servers.var("CAIRN_TEST_S3_BUCKET").to_owned(),
            region: servers.var("CAIRN_TEST_S3_REGION").to_owned(),
            access_key: servers.var("AWS_ACCESS_KEY_ID").to_owned(),
            secret_key: servers.var("AWS_SECRET_ACCESS_KEY").to_owned(),
        }
    }

    /// The variables that give a program (cairn, or the AWS CLI) this
    /// endpoint's credentials: the AWS chain reads them.
    pub fn credentials(&self) -> [(&'static str, &str); 5] {
        [
            ("AWS_ACCESS_KEY_ID", &self.access_key),
            ("AWS_SECRET_ACCESS_KEY", &self.secret_key),
            ("AWS_REGION", &self.region),
            ("AWS_DEFAULT_REGION", &self.region),
            ("AWS_ENDPOINT_URL", &self.endpoint),
        ]
    }

    /// The `aws` CLI against this endpoint.
    pub fn aws_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new("aws");
        command.envs(self.credentials());
        command.env_remove("AWS_PROFILE");
        command.arg("--endpoint-url").arg(&self.endpoint).args(args);
        command
    }

    /// Runs the `aws` CLI against this endpoint; returns its stdout.
    pub fn aws(&self, args: &[&str]) -> Vec<u8> {
        tool_bytes(&mut self.aws_command(args))
    }

    /// `s3://BUCKET/KEY`.
    pub fn url(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// `aws s3api OPERATION --bucket BUCKET ARGS...` as JSON (Null when it
    /// prints nothing, as some listings do when they are empty).
    pub fn s3api(&self, operation: &str, args: &[&str]) -> Value {
        let mut all = vec![
            "s3api",
            operation,
            "--bucket",
            &self.bucket,
            "--output",
            "json",
        ];
        all.extend(args);
        let out = self.aws(&all);
        if out.iter().all(u8::is_ascii_whitespace) {
            return Value::Null;
        }
        serde_json::from_slice(&out).unwrap()
    }

    /// The objects under `prefix`, as `list-objects-v2` describes them.
    pub fn objects(&self, prefix: &str) -> Vec<Value> {
        let listing = self.s3api("list-objects-v2", &["--prefix", prefix]);
        listing["Contents"].as_array().cloned().unwrap_or_default()
    }

    /// The keys of the objects under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let objects = self.objects(prefix);
        objects
            .iter()
            .map(|object| object["Key"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The multipart uploads open under `prefix`, as (key, upload ID).
    pub fn uploads(&self, prefix: &str) -> Vec<(String, String)> {
        let listing = self.s3api("list-multipart-uploads", &["--prefix", prefix]);
        let uploads = listing["Uploads"].as_array().into_iter().flatten();
        uploads
            .map(|upload| {
                let field = |name: &str| upload[name].as_str().unwrap().to_owned();
                (field("Key"), field("UploadId"))
            })
            .collect()
    }

    pub fn get(&self, key: &str) -> Vec<u8> {
        self.aws(&["s3", "cp", "--quiet", &self.url(key), "-"])
    }

    /// Downloads every object under `prefix` into the directory `to`.
    pub fn download(&self, prefix: &str, to: &Path) {
        self.aws(&[
            "s3",
            "cp",
            "--recursive",
            "--only-show-errors",
            &self.url(prefix),
            to.to_str().unwrap(),
        ]);
    }

    /// `aws s3 rm` of every object under `prefix`, to run when a test ends.
    pub fn remove_command(&self, prefix: &str) -> Command {
        self.aws_command(&[
            "s3",
            "rm",
            "--recursive",
            "--only-show-errors",
            &self.url(prefix),
        ])
    }

    /// Deletes every object and aborts every upload under `prefix`.
    pub fn remove_prefix(&self, prefix: &str) {
        self.aws(&["s3", "rm", "--quiet", "--recursive", &self.url(prefix)]);
        for (key, upload_id) in self.uploads(prefix) {
            let args = ["--key", key.as_str(), "--upload-id", upload_id.as_str()];
            self.s3api("abort-multipart-upload", &args);
        }
    }
}

/// A Garage of the test's own (`scripts/servers start-one DIR garage`), so
/// that stopping it disturbs no other test; stopped when dropped.
pub struct PrivateGarage {
    dir: tempfile::TempDir,
}

impl PrivateGarage {
    pub fn start() -> Self {
        let garage = PrivateGarage {
            dir: tempfile::tempdir().unwrap(),
        };
        garage.servers("start-one");
        garage
    }

    pub fn s3(&self) -> S3 {
        S3::new(&Servers::from_env_file(&self.dir.path().join("env")))
    }

    fn servers(&self, command: &str) {
        let out = Command::new(root().join("scripts/servers"))
            .arg(command)
            .arg(self.dir.path())
            .arg("garage")
            .output()
            .expect("scripts/servers runs");
        assert!(
            out.status.success(),
            "scripts/servers {command} garage failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills Garage the way a crash or a power cut does. `stop-one` would
    /// not do here: on SIGTERM Garage drains its open connections, and since
    /// the SDK keeps its connection busy with the next part, the whole upload
    /// completes before Garage exits.
    pub fn kill(&self) {
        let pid_file = self.dir.path().join("garage/garage.pid");
        let pid: libc::pid_t = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) on the Garage this test started.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        let pid = u32::try_from(pid).unwrap();
        wait_for("Garage to die", Duration::from_secs(10), || !alive(pid));
        // Tidies the PID file; the port and data stay for `start_again`.
        self.servers("stop-one");
    }

    pub fn start_again(&self) {
        self.servers("start-one");
    }
}

impl Drop for PrivateGarage {
    fn drop(&mut self) {
        let _ = Command::new(root().join("scripts/servers"))
            .arg("stop-one")
            .arg(self.dir.path())
            .arg("garage")
            .output();
    }
}
