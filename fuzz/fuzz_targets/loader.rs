//! The configuration loader, validation and the pure plan diff, through
//! `cairn::ops::probe` (the in-suite mutation test drives the same path).
//!
//! The input is split at NUL bytes into up to four parts:
//!
//! ```text
//! BACKUP_TOML \0 ENV_NAME \0 OVERLAY_TOML \0 VARS
//! ```
//!
//! - `BACKUP_TOML`: the bytes of `backup.toml` (need not be UTF-8);
//! - `ENV_NAME`: when present and not empty, `--env ENV_NAME`;
//! - `OVERLAY_TOML`: when present, the bytes of `backup.ENV_NAME.toml`
//!   (written only when the name holds no `/`);
//! - `VARS`: `NAME=VALUE` lines, the only environment `${VAR}` sees.
//!
//! Every input must end as a plan, or as a refusal with at least one
//! error; a panic is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

use cairn::ops::probe::{probe, Outcome, Probe};

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let base = parts.next().unwrap_or_default().to_vec();
    let env = parts
        .next()
        .map(|env| String::from_utf8_lossy(env).into_owned())
        .filter(|env| !env.is_empty());
    let overlay = parts.next().map(<[u8]>::to_vec);
    let vars = parts
        .next()
        .map(|vars| {
            String::from_utf8_lossy(vars)
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(name, value)| (name.to_owned(), value.to_owned()))
                .collect()
        })
        .unwrap_or_default();
    let outcome = probe(&Probe {
        base,
        env,
        overlay,
        vars,
        host_timezone: "UTC".to_owned(),
    })
    .expect("the scratch directory is writable");
    if let Outcome::Invalid { errors } = outcome {
        assert!(errors > 0, "refused without saying why");
    }
});
