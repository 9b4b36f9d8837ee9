//! No configuration crashes cairn: thousands of configurations mutated from
//! the shipped examples (lines deleted, swapped, duplicated, values replaced
//! by nasty ones, text cut short, random bytes inserted) go through the
//! loader, validation and the plan diff in-process (`ops::probe`, the path
//! the `loader` fuzz target drives too). Each must end as a diagnostic or a
//! plan, never a panic. The seed is fixed, so a failure reproduces.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;
use std::time::Instant;

use cairn::ops::probe::{probe, Outcome, Probe};

use crate::common::root;

const CONFIGS: usize = 3000;
const SEED: u64 = 0x00ca_1e5e_ed12;

/// The shipped examples the mutations start from.
const EXAMPLES: [&str; 3] = [
    "backup.toml.example",
    "examples/quickstart/backup.toml",
    "examples/production/backup.toml",
];

/// Values a careless or hostile edit could leave in a configuration, of
/// any type.
const NASTY: &[&str] = &[
    "\"\"",
    "''",
    "true",
    "1e308",
    "-inf",
    "nan",
    "1979-05-27T07:32:00Z",
    "[]",
    "{}",
    "[[]]",
    "[\"\"]",
    "{ a = { b = { c = [1, { d = 2 }] } } }",
    "\"ünïcødé ☃ \u{202e}\u{0}\"",
    "\"${UNSET}\"",
    "\"${UNSET:-}\"",
    "\"${\"",
    "\"${A:-${B}}\"",
    "\"$${X}\"",
    "\"unterminated",
    "'broken",
    "\"\"\"multi\nline\"\"\"",
    "\"/\"",
    "\"../../../etc/passwd\"",
    "\"relative/path\"",
    "\"postgresql://u:p@[::1\"",
    "\"postgresql://u@h/\"",
    "\"redis://:@:0\"",
    "\"s3://\"",
    "\"age1\"",
    "\"daily=-1\"",
    "\"keep_last=99999999999\"",
];

/// Numbers: counts, ports, levels, parallelism.
const NUMBERS: &[&str] = &[
    "0",
    "-1",
    "1.5",
    "65536",
    "4294967295",
    "4294967296",
    "99999999999",
    "9223372036854775807",
    "-9223372036854775808",
];

/// Durations (`rpo`, `timeout`, `jitter`, `within`).
const DURATIONS: &[&str] = &[
    "\"0s\"",
    "\"1s\"",
    "\"52w\"",
    "\"99999999999w\"",
    "\"15250284452w\"",
    "\"106751991167300d\"",
    "\"18446744073709551615s\"",
    "\"18446744073709551616s\"",
    "\"1d1d\"",
    "\"1y\"",
    "\"7\"",
];

/// Cron expressions.
const CRONS: &[&str] = &[
    "\"* * * * *\"",
    "\"* * * * * *\"",
    "\"0 0 31 2 *\"",
    "\"0 0 30 2 *\"",
    "\"0 0 29 2 *\"",
    "\"0 0 29 2 1\"",
    "\"59 23 31 12 *\"",
    "\"0 0 31 4,6,9,11 *\"",
    "\"*/0 * * * *\"",
    "\"1-0 * * * *\"",
    "\"0 0 * * MON-SUN/99999999999\"",
    "\"60 24 32 13 8\"",
    "\"@reboot\"",
    "\"@yearly\"",
    "\"0 2 * * *\"",
];

/// Tables written inline: schedules and retention policies.
const TABLES: &[&str] = &[
    "{ cron = \"* * * * * *\" }",
    "{ cron = \"0 0 31 2 *\" }",
    "{ cron = \"59 23 29 2 *\", jitter = \"99999999999w\" }",
    "{ cron = \"0 0 1 1 *\", jitter = \"5217w\" }",
    "{ on_calendar = \"*-*-* 00:00:00\" }",
    "{ daily = -1 }",
    "{ keep_last = 99999999999 }",
    "{ keep_last = 4294967295 }",
    "{ within = \"99999999999w\" }",
    "{ within = \"0s\", daily = 0 }",
    "{ algorithm = \"zstd\", level = 99999999999 }",
    "{ algorithm = \"gzip\", level = -1 }",
];

/// Values for the environment variables that `${VAR}`s read.
const VAR_VALUES: &[&str] = &[
    "",
    "x",
    "db.internal",
    "${NESTED}",
    "a\"b'c",
    "é☃\u{202e}",
    "../..",
    "@:/?#[]",
    "line\nbreak",
    "99999999999",
];

const VARS: &[&str] = &[
    "PGHOST",
    "PGPASSWORD",
    "REDIS_PASSWORD",
    "REDIS_HOST",
    "MARIADB_HOST",
    "BACKUP_BUCKET",
    "HC_UUID",
];

const TIMEZONES: &[&str] = &["UTC", "Europe/Berlin", "America/St_Johns", "Not/AZone", ""];

/// splitmix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// The names a configuration defines (`[jobs.NAME]`, …), quoted, as
/// replacement values: references to the wrong kind of thing, or to a job
/// that a deleted line broke.
fn defined_names(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in text.lines() {
        let Some(header) = line.trim().strip_prefix('[') else {
            continue;
        };
        let parts: Vec<&str> = header.trim_matches(['[', ']']).split('.').collect();
        if let [_, name, ..] = parts[..] {
            names.push(format!("\"{name}\""));
            names.push(format!("[\"{name}\"]"));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// The `[env.NAME]` environments a configuration defines.
fn environments(text: &str) -> Vec<String> {
    let mut envs: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("[env."))
        .filter_map(|rest| rest.split(['.', ']']).next())
        .map(str::to_owned)
        .collect();
    envs.sort();
    envs.dedup();
    envs
}

/// One random edit of `text`.
fn mutate(rng: &mut Rng, text: &[u8], names: &[String]) -> Vec<u8> {
    let mut lines: Vec<Vec<u8>> = text.split(|b| *b == b'\n').map(<[u8]>::to_vec).collect();
    let line = rng.below(lines.len());
    // Weighted towards edits that often leave a valid configuration, so
    // that the diff sees many of them.
    match rng.below(12) {
        0..=2 => {
            lines.remove(line);
        }
        3 => {
            let other = rng.below(lines.len());
            lines.swap(line, other);
        }
        4 => {
            let copy = lines[line].clone();
            let at = rng.below(lines.len() + 1);
            lines.insert(at, copy);
        }
        5..=8 => {
            // Replace a value: the whole right-hand side, or one string in it.
            let candidates: Vec<usize> = (0..lines.len())
                .filter(|i| lines[*i].contains(&b'='))
                .collect();
            if candidates.is_empty() {
                return text.to_vec();
            }
            let i = *rng.pick(&candidates);
            lines[i] = replace_value(rng, &lines[i], names);
        }
        9 => {
            let cut = rng.below(text.len() + 1);
            return text[..cut].to_vec();
        }
        10 => {
            let mut out = text.to_vec();
            let at = rng.below(out.len() + 1);
            let bytes: Vec<u8> = (0..1 + rng.below(8))
                .map(|_| match rng.below(3) {
                    0 => *rng.pick(b"[]{}=\"'.,#\n\\$ \t"),
                    _ => rng.next() as u8,
                })
                .collect();
            out.splice(at..at, bytes);
            return out;
        }
        _ => {
            // A table header deleted or duplicated moves every key under it.
            let headers: Vec<usize> = (0..lines.len())
                .filter(|i| lines[*i].starts_with(b"["))
                .collect();
            if let Some(&i) = headers.get(rng.below(headers.len().max(1))) {
                if rng.chance(2) {
                    lines.remove(i);
                } else {
                    let copy = lines[i].clone();
                    lines.insert(rng.below(lines.len() + 1), copy);
                }
            }
        }
    }
    lines.join(&b'\n')
}

/// `line` with its value, or one quoted string in it, replaced.
fn replace_value(rng: &mut Rng, line: &[u8], names: &[String]) -> Vec<u8> {
    let Some(equals) = line.iter().position(|b| *b == b'=') else {
        return line.to_vec();
    };
    let quotes: Vec<usize> = line
        .iter()
        .enumerate()
        .filter(|(i, b)| **b == b'"' && *i > equals)
        .map(|(i, _)| i)
        .collect();
    // One string inside an array or inline table (the structure stays),
    // or the whole right-hand side.
    let (start, end) = if quotes.len() >= 2 && rng.chance(2) {
        let pair = rng.below(quotes.len() / 2) * 2;
        (quotes[pair], quotes[pair + 1] + 1)
    } else {
        (equals + 1, line.len())
    };
    let value = replacement(rng, &String::from_utf8_lossy(&line[start..end]), names);
    let mut out = line[..start].to_vec();
    if start == equals + 1 {
        out.push(b' ');
    }
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(&line[end..]);
    out
}

/// A value to put where `old` was: mostly one of the same kind (so that
/// the edit gets past the type check to the semantic checks), else one of
/// any kind, or the name of something the configuration defines.
fn replacement(rng: &mut Rng, old: &str, names: &[String]) -> String {
    let old = old.trim();
    let unquoted = old.trim_matches('"');
    let same_kind: &[&str] = if old.starts_with('{') {
        TABLES
    } else if old.parse::<f64>().is_ok() {
        NUMBERS
    } else if !unquoted.is_empty()
        && unquoted.ends_with(['s', 'm', 'h', 'd', 'w'])
        && unquoted.starts_with(|c: char| c.is_ascii_digit())
    {
        DURATIONS
    } else if unquoted.starts_with('@') || unquoted.split(' ').count() == 5 {
        CRONS
    } else {
        NASTY
    };
    match rng.below(6) {
        0 if !names.is_empty() => rng.pick(names).clone(),
        1 => (*rng.pick(NASTY)).to_owned(),
        2 => {
            let pools: [&[&str]; 5] = [NASTY, NUMBERS, DURATIONS, CRONS, TABLES];
            let pool = *rng.pick(&pools);
            (*rng.pick(pool)).to_owned()
        }
        _ => (*rng.pick(same_kind)).to_owned(),
    }
}

/// A random configuration: an example with one or two edits, maybe an
/// environment selected, maybe an overlay file cut from it, and variables.
fn generate(rng: &mut Rng, examples: &[(String, Vec<u8>)]) -> Probe {
    let (text, original) = rng.pick(examples);
    let names = defined_names(text);
    let mut base = original.clone();
    for _ in 0..1 + rng.below(3) / 2 {
        base = mutate(rng, &base, &names);
    }
    let envs = environments(text);
    let mut probe = Probe {
        host_timezone: (*rng.pick(TIMEZONES)).to_owned(),
        ..Probe::default()
    };
    match rng.below(10) {
        0..=2 if !envs.is_empty() => probe.env = Some(rng.pick(&envs).clone()),
        3 | 4 => {
            // `backup.overlay.toml`: a run of the base's lines, edited.
            let lines: Vec<&[u8]> = original.split(|b| *b == b'\n').collect();
            let start = rng.below(lines.len());
            let end = start + rng.below(lines.len() - start + 1);
            let overlay = mutate(rng, &lines[start..end].join(&b'\n'), &names);
            probe.env = Some("overlay".to_owned());
            probe.overlay = Some(overlay);
        }
        5 => probe.env = Some("undefined".to_owned()),
        _ => {}
    }
    probe.base = base;
    for var in VARS {
        if !rng.chance(3) {
            probe
                .vars
                .insert((*var).to_owned(), (*rng.pick(VAR_VALUES)).to_owned());
        }
    }
    probe
}

thread_local! {
    /// Set while this thread probes: its panics are recorded, not printed.
    static PROBING: Cell<bool> = const { Cell::new(false) };
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Keeps the default panic output for every other test (they share the
/// process) and records the message and location of a probe's panic.
fn quiet_probe_panics() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if PROBING.with(Cell::get) {
                // Where in cairn it panicked: the first frame in src/.
                let trace = std::backtrace::Backtrace::force_capture().to_string();
                let frame = trace
                    .lines()
                    .map(str::trim)
                    .find(|line| {
                        line.starts_with("at ")
                            && line.contains("/src/")
                            && !line.contains("/.cargo/")
                            && !line.contains("/rustc/")
                    })
                    .unwrap_or("at an unknown frame");
                PANIC.with(|p| *p.borrow_mut() = Some(format!("{info}\n(in cairn {frame})")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs one probe; the panic message if it panicked.
fn run(probe_input: &Probe) -> Result<Outcome, String> {
    PROBING.with(|p| p.set(true));
    let result = panic::catch_unwind(AssertUnwindSafe(|| probe(probe_input)));
    PROBING.with(|p| p.set(false));
    match result {
        Ok(outcome) => Ok(outcome.expect("the scratch directory is writable")),
        Err(_) => Err(PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "a panic without a message".to_owned())),
    }
}

fn describe(probe: &Probe, message: &str) -> String {
    format!(
        "panic: {message}\nenv: {:?}, host time zone: {:?}, vars: {:?}\n--- backup.toml\n{}\n{}",
        probe.env,
        probe.host_timezone,
        probe.vars,
        String::from_utf8_lossy(&probe.base),
        probe
            .overlay
            .as_ref()
            .map_or_else(String::new, |overlay| format!(
                "--- backup.{}.toml\n{}\n",
                probe.env.as_deref().unwrap_or_default(),
                String::from_utf8_lossy(overlay)
            )),
    )
}

#[test]
fn mutated_examples_never_panic() {
    quiet_probe_panics();
    let examples: Vec<(String, Vec<u8>)> = EXAMPLES
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(root().join(path)).unwrap();
            (text.clone(), text.into_bytes())
        })
        .collect();
    // The examples themselves are valid and plan: the mutations start
    // from configurations that reach the diff.
    for (text, bytes) in &examples {
        let outcome = run(&Probe {
            base: bytes.clone(),
            host_timezone: "UTC".to_owned(),
            vars: BTreeMap::new(),
            ..Probe::default()
        });
        assert!(
            matches!(outcome, Ok(Outcome::Valid { actions }) if actions > 0),
            "{outcome:?} for\n{text}"
        );
    }

    let started = Instant::now();
    let mut rng = Rng(SEED);
    let mut valid = 0;
    let mut panics = Vec::new();
    for _ in 0..CONFIGS {
        let probe = generate(&mut rng, &examples);
        match run(&probe) {
            Ok(Outcome::Valid { .. }) => valid += 1,
            Ok(Outcome::Invalid { errors }) => {
                assert!(
                    errors > 0,
                    "refused without an error:\n{}",
                    describe(&probe, "-")
                )
            }
            Err(message) => panics.push(describe(&probe, &message)),
        }
    }
    eprintln!(
        "mutation: {CONFIGS} configurations, {valid} valid, {} panicked, in {:.1?}",
        panics.len(),
        started.elapsed()
    );
    if !panics.is_empty() {
        let report = std::env::temp_dir().join("cairn-mutation-panics.txt");
        std::fs::write(&report, panics.join("\n========\n")).unwrap();
        panic!(
            "{} of {CONFIGS} mutated configurations panicked (all in {}); the first:\n\n{}",
            panics.len(),
            report.display(),
            panics[..panics.len().min(3)].join("\n========\n")
        );
    }
    // Enough of them stay valid that the plan diff is exercised, not only
    // the loader's refusals.
    assert!(
        valid >= CONFIGS / 10,
        "only {valid} of {CONFIGS} mutated configurations were valid"
    );
}
