//! The security review (issue 12): secrets stay out of everything cairn
//! prints, writes and starts; file modes hold whatever the umask; webhook
//! tokens are redacted; names read from a destination never lead outside it.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::{
    descendant_command_lines, flat, notify::closed_port, read_in_background, Cairn, PrivateRedis,
    Run, Sandbox,
};

/// Runs `cairn` to the end while scanning /proc for the command lines of
/// every process it starts.
fn run_watching(cairn: Cairn, lines: &mut BTreeSet<String>) -> Run {
    let mut child = cairn
        .into_command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cairn starts");
    let stdout = read_in_background(child.stdout.take().unwrap());
    let stderr = read_in_background(child.stderr.take().unwrap());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        lines.extend(descendant_command_lines(child.id()));
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        code: status.code().expect("cairn exits with a code"),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// Every file under `root`, symbolic links not followed.
fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files
}

/// A secret, shown in failure messages by its label only.
struct Secret {
    label: &'static str,
    value: String,
}

/// Where any of `secrets` appears in `text`, as "LABEL in WHERE".
fn leaks(secrets: &[Secret], text: &[u8], place: &str) -> Vec<String> {
    secrets
        .iter()
        .filter(|secret| {
            text.windows(secret.value.len())
                .any(|window| window == secret.value.as_bytes())
        })
        .map(|secret| format!("{} in {place}", secret.label))
        .collect()
}

#[test]
fn secrets_never_reach_output_files_or_command_lines() {
    let mut sandbox = Sandbox::new("security_secrets").with_servers().under_root();
    let unique = std::process::id();
    let postgres = sandbox.postgres();
    let redis = sandbox.redis();
    let s3 = sandbox.s3();

    // A role of the test's own, its password written into the DSN.
    let role = format!("sec_role_{unique}");
    let literal = format!("LITERALpw{unique}q");
    let wrong = format!("WRONGpw{unique}q");
    let drop_role = format!("drop role if exists {role}");
    sandbox.clean_up_with(postgres.psql_command("postgres", &drop_role));
    postgres.psql("postgres", &drop_role);
    postgres.psql(
        "postgres",
        &format!("create role {role} login createdb password '{literal}'; grant pg_read_all_data to {role}"),
    );
    // Dumps big enough (some MB) to be caught running by the /proc scan.
    let database = format!("sec_db_{unique}");
    postgres.create_noise(&sandbox, &database, 20_000);
    // The Redis password comes through ${REDIS_SECRET}.
    sandbox.pass_env("REDIS_SECRET", "CAIRN_TEST_REDIS_PASSWORD");
    let keys = format!("{}:", sandbox.unique);
    let mut delete = redis.cli_command();
    delete.args([
        "EVAL",
        "for _, k in ipairs(redis.call('KEYS', ARGV[1])) do redis.call('DEL', k) end",
        "0",
        &format!("{keys}*"),
    ]);
    sandbox.clean_up_with(delete);
    redis.cli(&[
        "EVAL",
        "for i = 1, 100000 do redis.call('SET', ARGV[1] .. i, string.rep('x', 100)) end",
        "0",
        &keys,
    ]);
    let token = format!("hcTOKEN{unique}z");
    let port = closed_port();
    let prefix = format!("security/{}", sandbox.unique);
    sandbox.clean_up_with(s3.remove_command(&format!("{prefix}/")));

    let config = |password: &str| {
        format!(
            r#"[settings]
scheduler = "systemd"
environment_file = "/etc/cairn/env"

[stores.pg]
kind = "postgres"
dsn = "postgresql://{role}:{password}@{host}:{pg_port}/{database}"

[stores.cache]
{redis_store}

[destinations.local]
kind = "local"
path = "backups"

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
endpoint = "{endpoint}"
path_style = true
region = "garage"

[jobs.pg]
store = "pg"
schedule = {{ cron = "@daily" }}
to = ["local", "offsite"]
retention = {{ keep_last = 7 }}

[jobs.cache]
store = "cache"
schedule = {{ cron = "@daily" }}
to = ["local", "offsite"]
retention = {{ keep_last = 7 }}

[jobs.check]
kind = "verify"
verifies = "pg"
schedule = {{ cron = "0 6 * * *" }}

[[jobs.check.checks]]
query = "select count(*) from noise"
min = 1

[notify.healthchecks]
kind = "webhook"
url = "http://127.0.0.1:{port}/ping/{token}?token={token}"
on = ["success", "failure"]
"#,
            host = postgres.host,
            pg_port = postgres.port,
            redis_store = redis.store("REDIS_SECRET", ""),
            bucket = s3.bucket,
            endpoint = s3.endpoint,
        )
    };
    sandbox.write_config(&config(&literal));

    let secrets = [
        Secret {
            label: "the DSN's literal password",
            value: literal.clone(),
        },
        Secret {
            label: "the Redis password from ${REDIS_SECRET}",
            value: sandbox.var("CAIRN_TEST_REDIS_PASSWORD").to_owned(),
        },
        Secret {
            label: "the wrong DSN password",
            value: wrong.clone(),
        },
        Secret {
            label: "the webhook token",
            value: token.clone(),
        },
        Secret {
            label: "the restore target's Redis password",
            value: PrivateRedis::PASSWORD.to_owned(),
        },
        Secret {
            label: "the S3 secret key",
            value: sandbox.var("AWS_SECRET_ACCESS_KEY").to_owned(),
        },
    ];

    let mut command_lines = BTreeSet::new();
    let mut found = Vec::new();
    let mut run_with =
        |args: &[&str], env: &[(&str, &str)], code: Option<i32>, lines: &mut BTreeSet<String>| {
            let out = run_watching(sandbox.cairn(args).envs(env.iter().copied()), lines);
            let shown = format!("`cairn {}`", args.join(" "));
            if let Some(code) = code {
                assert_eq!(
                    out.code,
                    code,
                    "{shown} exits {code}; stderr (secrets masked):\n{}",
                    mask(&out.stderr, &secrets)
                );
            }
            found.extend(leaks(
                &secrets,
                out.stdout.as_bytes(),
                &format!("stdout of {shown}"),
            ));
            found.extend(leaks(
                &secrets,
                out.stderr.as_bytes(),
                &format!("stderr of {shown}"),
            ));
            out
        };
    let saved = sandbox.path().join("saved.plan");
    let textfile = sandbox.path().join("metrics/cairn.prom");
    run_with(&["validate"], &[], Some(0), &mut command_lines);
    run_with(&["validate", "--json"], &[], Some(0), &mut command_lines);
    run_with(&["plan"], &[], None, &mut command_lines);
    run_with(&["plan", "--json"], &[], None, &mut command_lines);
    run_with(
        &["plan", "-o", saved.to_str().unwrap()],
        &[],
        None,
        &mut command_lines,
    );
    run_with(
        &["apply", "--auto-approve"],
        &[],
        Some(0),
        &mut command_lines,
    );
    run_with(&["run", "pg"], &[], Some(0), &mut command_lines);
    run_with(&["run", "cache"], &[], Some(0), &mut command_lines);
    run_with(
        &["status", "--prometheus", textfile.to_str().unwrap()],
        &[],
        None,
        &mut command_lines,
    );
    run_with(&["status", "--json"], &[], None, &mut command_lines);
    run_with(&["history"], &[], Some(0), &mut command_lines);
    run_with(&["history", "--json"], &[], Some(0), &mut command_lines);
    run_with(&["inventory"], &[], Some(0), &mut command_lines);
    run_with(&["inventory", "--json"], &[], Some(0), &mut command_lines);
    // A verify restores into a scratch database as the DSN's role; a
    // restore loads a Redis that wants its own password (REDISCLI_AUTH).
    run_with(&["verify", "check"], &[], Some(0), &mut command_lines);
    let mut target = PrivateRedis::in_dir(&sandbox.path().join("target-redis"));
    target.require_password();
    let target_url = format!("redis://127.0.0.1:{}", target.port);
    run_with(
        &["restore", "cache", "--to", &target_url],
        &[("REDISCLI_AUTH", PrivateRedis::PASSWORD)],
        Some(0),
        &mut command_lines,
    );
    drop(target);
    // A run that fails: the wrong password for PostgreSQL.
    sandbox.write_config(&config(&wrong));
    let failed = run_with(&["run", "pg"], &[], Some(1), &mut command_lines);
    assert!(
        flat(&failed.stderr).contains("password authentication failed"),
        "the failure says why (secrets masked):\n{}",
        mask(&failed.stderr, &secrets)
    );
    run_with(&["history", "--json"], &[], Some(0), &mut command_lines);
    run_with(&["status"], &[], None, &mut command_lines);
    // The configuration itself holds the passwords; nothing else may.
    std::fs::remove_file(sandbox.config()).unwrap();

    let programs: BTreeSet<&str> = command_lines
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    for program in ["pg_dump", "pg_restore", "redis-cli"] {
        assert!(
            programs.iter().any(|seen| seen.ends_with(program)),
            "{program} was seen running, so its command line was checked; seen: {programs:?}"
        );
    }
    for line in &command_lines {
        let program = line.split(' ').next().unwrap_or_default().to_owned();
        found.extend(leaks(
            &secrets,
            line.as_bytes(),
            &format!("the command line of {program}"),
        ));
    }
    let files = files_under(sandbox.path());
    for kind in ["history", "locks", ".service", ".timer", "manifest.json"] {
        assert!(
            files.iter().any(|f| f.display().to_string().contains(kind)),
            "cairn wrote a {kind} file to check: {files:?}"
        );
    }
    assert!(files.contains(&saved) && files.contains(&textfile));
    for file in &files {
        let place = sandbox.redact(&file.display().to_string());
        found.extend(leaks(&secrets, &std::fs::read(file).unwrap(), &place));
    }
    let offsite = sandbox.path().join("offsite");
    s3.download(&format!("{prefix}/"), &offsite);
    for file in files_under(&offsite) {
        let place = format!("S3 object {}", sandbox.redact(&file.display().to_string()));
        found.extend(leaks(&secrets, &std::fs::read(&file).unwrap(), &place));
    }
    assert!(found.is_empty(), "secrets leaked: {found:#?}");
}

/// `text` with every secret replaced by its label.
fn mask(text: &str, secrets: &[Secret]) -> String {
    secrets.iter().fold(text.to_owned(), |text, secret| {
        text.replace(&secret.value, &format!("<{}>", secret.label))
    })
}

/// `cairn ARGS` in the sandbox under umask 000.
fn with_open_umask(cairn: Cairn) -> Run {
    let mut command = cairn.into_command();
    // SAFETY: umask is async-signal-safe and touches nothing but the mask.
    unsafe {
        command.pre_exec(|| {
            libc::umask(0);
            Ok(())
        });
    }
    let output = command.output().expect("cairn runs");
    Run {
        code: output.status.code().expect("cairn exits with a code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

/// Every directory and file under `root` (itself included), with its mode.
fn modes_under(root: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut found = vec![(root.to_owned(), true, mode(root))];
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let is_dir = entry.file_type().unwrap().is_dir();
            if is_dir {
                pending.push(entry.path());
            }
            found.push((entry.path(), is_dir, mode(&entry.path())));
        }
    }
    found
}

/// Checks that `path` is 0644 and its directory not writable by others.
fn public_file(sandbox: &Sandbox, path: &Path, wrong: &mut Vec<String>) {
    let shown = |path: &Path| sandbox.redact(&path.display().to_string());
    let file_mode = mode(path);
    if file_mode != 0o644 {
        wrong.push(format!("{} is {file_mode:03o}, not 644", shown(path)));
    }
    let dir = path.parent().unwrap();
    let dir_mode = mode(dir);
    if dir_mode & 0o022 != 0 {
        wrong.push(format!(
            "{} is {dir_mode:03o}: others may write there",
            shown(dir)
        ));
    }
}

fn state_marker(sandbox: &Sandbox) -> PathBuf {
    sandbox.path().join("root/var/lib/cairn/notify/stale/files")
}

const MODES_CONFIG: &str = r#"[settings]
scheduler = "systemd"

[stores.files]
kind = "directory"
path = "data"

[destinations.local]
kind = "local"
path = "backups"

[jobs.files]
store = "files"
schedule = { cron = "@daily" }
to = ["local"]
retention = { keep_last = 7 }
rpo = "26h"

[notify.log]
kind = "command"
command = "true"
on = ["stale"]
"#;

#[test]
fn state_and_artifacts_are_private_whatever_the_umask() {
    let sandbox = Sandbox::new("security_modes").under_root();
    sandbox.write_config(MODES_CONFIG);
    std::fs::create_dir_all(sandbox.path().join("data")).unwrap();
    std::fs::write(sandbox.path().join("data/notes.txt"), "hello\n").unwrap();
    let textfile = sandbox.path().join("metrics/cairn.prom");
    let ok = |run: Run, what: &str| assert_eq!(run.code, 0, "{what}: {}", run.stderr);
    ok(
        with_open_umask(
            sandbox
                .cairn(&["apply", "--auto-approve"])
                .now("2026-01-01T03:00:00Z"),
        ),
        "apply",
    );
    let mut wrong = Vec::new();
    for unit in ["cairn-files.service", "cairn-files.timer"] {
        let path = sandbox.path().join("root/etc/systemd/system").join(unit);
        public_file(&sandbox, &path, &mut wrong);
    }
    ok(
        with_open_umask(sandbox.cairn(&["run", "files"]).now("2026-01-01T04:00:00Z")),
        "run",
    );
    // Two days later the job is stale: `status --notify` leaves a marker.
    let status = with_open_umask(
        sandbox
            .cairn(&[
                "status",
                "--notify",
                "--prometheus",
                textfile.to_str().unwrap(),
            ])
            .now("2026-01-03T08:00:00Z"),
    );
    assert!(
        state_marker(&sandbox).exists(),
        "the job is stale and was notified: {}",
        status.stderr
    );
    sandbox.edit_config("scheduler = \"systemd\"", "scheduler = \"cron\"");
    ok(
        with_open_umask(
            sandbox
                .cairn(&["apply", "--auto-approve"])
                .now("2026-01-03T09:00:00Z"),
        ),
        "apply with cron",
    );

    let state = sandbox.path().join("root/var/lib/cairn");
    let backups = sandbox.path().join("backups");
    for root in [&state, &backups] {
        for (path, is_dir, mode) in modes_under(root) {
            let want = if is_dir { 0o700 } else { 0o600 };
            if mode != want {
                wrong.push(format!(
                    "{} is {mode:03o}, not {want:03o}",
                    sandbox.redact(&path.display().to_string())
                ));
            }
        }
    }
    for kind in ["history", "locks", "notify/stale"] {
        assert!(
            state.join(kind).is_dir(),
            "cairn made {kind}/ in the state dir"
        );
    }
    for path in [
        sandbox.path().join("root/etc/cron.d/cairn"),
        textfile.clone(),
    ] {
        public_file(&sandbox, &path, &mut wrong);
    }
    assert!(wrong.is_empty(), "under umask 000: {wrong:#?}");
}

#[test]
fn an_age_identity_others_can_read_is_warned_about() {
    let sandbox = Sandbox::new("security_identity").under_root();
    let (identity, recipient) = sandbox.age_key();
    sandbox.write_config(
        &MODES_CONFIG.replace("rpo = \"26h\"", &format!("encrypt_to = [\"{recipient}\"]")),
    );
    let data = sandbox.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("notes.txt"), "hello\n").unwrap();
    let run = sandbox.cairn(&["run", "files"]).run();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let restore = |identity_mode: u32| {
        std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(identity_mode))
            .unwrap();
        std::fs::remove_dir_all(&data).unwrap();
        let out = sandbox
            .cairn(&["restore", "files", "--identity", identity.to_str().unwrap()])
            .run();
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(
            std::fs::read_to_string(data.join("notes.txt")).unwrap(),
            "hello\n"
        );
        flat(&out.stderr)
    };
    let exposed = restore(0o644);
    let fix = format!("chmod 600 {}", identity.display());
    assert!(
        exposed.contains("warning: the age identity file")
            && exposed.contains("mode 644")
            && exposed.contains(&fix),
        "the warning names the file and the fix: {exposed}"
    );
    let private = restore(0o600);
    assert!(
        !private.contains("age identity file"),
        "a private identity is not warned about: {private}"
    );
}

#[test]
fn a_webhook_url_with_a_password_is_refused_without_showing_it() {
    let sandbox = Sandbox::new("security_webhook_userinfo").under_root();
    sandbox.write_config(&MODES_CONFIG.replace(
        "[notify.log]\nkind = \"command\"\ncommand = \"true\"\non = [\"stale\"]\n",
        "[notify.hook]\nkind = \"webhook\"\nurl = \"https://hook-user:USERPASS@hooks.example.com/x\"\non = [\"success\"]\n",
    ));
    let validate = sandbox.cairn(&["validate"]).run();
    assert_eq!(validate.code, 1);
    let shown = format!("{}{}", validate.stdout, validate.stderr);
    assert!(
        shown.contains("carries a user name or password before the host"),
        "{}",
        shown.replace("USERPASS", "<secret>")
    );
    assert!(!shown.contains("USERPASS"), "the password is shown");
}

#[test]
fn webhook_tokens_stay_out_of_warnings() {
    let port = closed_port();
    let urls = [
        (
            "healthchecks",
            format!("http://127.0.0.1:{port}/0f1e2d3c-HCUUID"),
        ),
        (
            "query",
            format!("http://127.0.0.1:{port}/hook?token=QUERYTOKEN"),
        ),
        (
            "slack",
            format!("http://127.0.0.1:{port}/services/T0SLACKT/B0SLACKB/SLACKSECRET"),
        ),
    ];
    let notifiers: String = urls
        .iter()
        .map(|(name, url)| {
            format!("[notify.{name}]\nkind = \"webhook\"\nurl = \"{url}\"\non = [\"success\"]\n\n")
        })
        .collect();
    let sandbox = Sandbox::new("security_webhook").under_root();
    sandbox.write_config(&MODES_CONFIG.replace(
        "[notify.log]\nkind = \"command\"\ncommand = \"true\"\non = [\"stale\"]\n",
        &notifiers,
    ));
    std::fs::create_dir_all(sandbox.path().join("data")).unwrap();
    std::fs::write(sandbox.path().join("data/notes.txt"), "hello\n").unwrap();

    let run = sandbox.cairn(&["run", "files"]).run();
    let secrets = ["HCUUID", "QUERYTOKEN", "T0SLACKT", "SLACKSECRET"];
    assert_eq!(
        run.code,
        0,
        "a failed delivery never fails a run: {}",
        secrets.iter().fold(run.stderr.clone(), |text, secret| text
            .replace(secret, "<secret>"))
    );
    // Failure messages show the output with the secrets masked.
    let hide = |text: &str| {
        secrets.iter().fold(text.to_owned(), |text, secret| {
            text.replace(secret, "<secret>")
        })
    };
    for (name, _) in &urls {
        let warning = run
            .stderr
            .lines()
            .find(|line| line.starts_with(&format!("warning: notifier `{name}`")))
            .unwrap_or_else(|| panic!("a warning names notifier `{name}`: {}", hide(&run.stderr)));
        assert!(
            warning.contains(&format!("http://127.0.0.1:{port}/…")),
            "the warning shows scheme, host and port: {}",
            hide(warning)
        );
    }
    let printed = format!("{}{}", run.stdout, run.stderr);
    let shown = secrets
        .iter()
        .filter(|secret| printed.contains(**secret))
        .count();
    assert!(shown == 0, "{shown} secrets printed:\n{}", hide(&printed));
    for file in files_under(&sandbox.path().join("root")) {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        for (index, secret) in secrets.iter().enumerate() {
            assert!(
                !text.contains(secret),
                "secret {index} is in {}",
                file.display()
            );
        }
    }
}

/// Writes a file, making its directory.
fn plant(path: &Path, contents: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, contents).unwrap();
}

#[test]
fn names_read_from_destinations_never_lead_outside_them() {
    let sandbox = Sandbox::new("security_listing").with_servers();
    let s3 = sandbox.s3();
    let prefix = format!("security/{}", sandbox.unique);
    sandbox.clean_up_with(s3.remove_command(&format!("{prefix}/")));
    sandbox.clean_up_with(s3.remove_command(&format!("security/{}-x/", sandbox.unique)));
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

[destinations.offsite]
kind = "s3"
bucket = "{bucket}"
prefix = "{prefix}"
endpoint = "{endpoint}"
path_style = true
region = "garage"

[jobs.files]
store = "files"
schedule = {{ cron = "@daily" }}
to = ["local", "offsite"]
retention = {{ keep_last = 1 }}
"#,
        bucket = s3.bucket,
        endpoint = s3.endpoint,
    ));
    let dir = sandbox.path();
    plant(&dir.join("data/notes.txt"), b"hello\n");
    let first = sandbox
        .cairn(&["run", "files"])
        .now("2026-01-01T03:00:00Z")
        .run();
    assert_eq!(first.code, 0, "{}", first.stderr);
    let good_id = "20260101T030000Z";
    let manifest = std::fs::read_to_string(
        dir.join("backups/files")
            .join(good_id)
            .join("manifest.json"),
    )
    .unwrap();

    // Outside the destination: what a followed name would reach.
    let outside = dir.join("outside");
    let old_id = "20200101T000000Z";
    plant(
        &outside.join("manifest.json"),
        manifest.replace(good_id, old_id).as_bytes(),
    );
    plant(&outside.join("secret.txt"), b"not cairn's\n");
    // A link where an older artifact would be; a manifest that names a
    // stream outside its artifact; one that claims another place.
    std::os::unix::fs::symlink(&outside, dir.join("backups/files").join(old_id)).unwrap();
    let crafted_id = "20200102T000000Z";
    let stream = serde_json::from_str::<serde_json::Value>(&manifest).unwrap()["streams"][0]
        ["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let crafted = manifest
        .replace(good_id, crafted_id)
        .replace(&stream, "../../../outside/secret.txt");
    let crafted_dir = dir.join("backups/files").join(crafted_id);
    plant(&crafted_dir.join("manifest.json"), crafted.as_bytes());
    let claiming_id = "20200103T000000Z";
    let claiming_dir = dir.join("backups/files").join(claiming_id);
    plant(
        &claiming_dir.join("manifest.json"),
        manifest.replace(good_id, "../../../outside").as_bytes(),
    );
    // S3: keys that step out of the prefix, and a manifest naming a
    // stream outside its artifact.
    let escaping = format!("{prefix}/files/../../{}-x/manifest.json", sandbox.unique);
    let dotted = format!("{prefix}/files/{old_id}/../manifest.json");
    let upload = dir.join("upload.json");
    std::fs::write(&upload, manifest.replace(good_id, old_id)).unwrap();
    for key in [&escaping, &dotted] {
        s3.aws(&[
            "s3api",
            "put-object",
            "--bucket",
            &s3.bucket,
            "--key",
            key,
            "--body",
            upload.to_str().unwrap(),
        ]);
    }
    let crafted_key = format!("{prefix}/files/{crafted_id}/manifest.json");
    std::fs::write(&upload, &crafted).unwrap();
    s3.aws(&[
        "s3api",
        "put-object",
        "--bucket",
        &s3.bucket,
        "--key",
        &crafted_key,
        "--body",
        upload.to_str().unwrap(),
    ]);
    let planted_keys: Vec<String> = s3.keys(&format!("{prefix}/"));
    for key in [&escaping, &dotted, &crafted_key] {
        assert!(
            planted_keys.contains(key),
            "Garage keeps {key} as written: {planted_keys:?}"
        );
    }

    let warned = |out: &str, what: &str| {
        for name in [
            format!("backups/files/{old_id}"),
            format!("backups/files/{crafted_id}/manifest.json"),
            format!("backups/files/{claiming_id}/manifest.json"),
            escaping.clone(),
            dotted.clone(),
            crafted_key.clone(),
        ] {
            assert!(out.contains(&name), "{what} warns about {name}:\n{out}");
        }
    };
    let inventory = sandbox.cairn(&["inventory"]).run();
    assert_eq!(inventory.code, 0, "{}", inventory.stderr);
    warned(&inventory.stderr, "inventory");
    let plan = sandbox
        .cairn(&["plan", "--json"])
        .now("2026-01-02T03:30:00Z")
        .run();
    warned(&plan.stdout, "plan --json");
    let status = sandbox.cairn(&["status"]).now("2026-01-01T04:00:00Z").run();
    warned(&status.stderr, "status");
    let restore = sandbox
        .cairn(&[
            "restore",
            "files",
            "--artifact",
            crafted_id,
            "--to",
            "restored",
        ])
        .run();
    assert_eq!(
        restore.code, 1,
        "a crafted artifact is never restored: {}",
        restore.stderr
    );
    assert!(!dir.join("restored").exists());

    // A second run makes the first prunable (keep_last = 1): pruned by
    // the run's tidy-up, then apply.
    let second = sandbox
        .cairn(&["run", "files"])
        .now("2026-01-02T03:00:00Z")
        .run();
    assert_eq!(second.code, 0, "{}", second.stderr);
    let apply = sandbox
        .cairn(&["apply", "--auto-approve"])
        .now("2026-01-02T03:30:00Z")
        .run();
    assert_eq!(apply.code, 0, "{}", apply.stderr);
    assert!(
        !dir.join("backups/files").join(good_id).exists(),
        "the real old artifact was pruned: {}",
        apply.stdout
    );
    for kept in [
        outside.join("manifest.json"),
        outside.join("secret.txt"),
        crafted_dir.join("manifest.json"),
        claiming_dir.join("manifest.json"),
    ] {
        assert!(kept.exists(), "{} was left alone", kept.display());
    }
    assert!(dir.join("backups/files").join(old_id).is_symlink());
    let keys = s3.keys(&format!("{prefix}/"));
    for key in [&escaping, &dotted, &crafted_key] {
        assert!(keys.contains(key), "{key} was left alone: {keys:?}");
    }
}
