//! `settings.environment_file`, read the way systemd's `EnvironmentFile=`
//! reads it, for the commands PostgreSQL starts without the units'
//! environment (`cairn wal push` and `wal fetch`, SPEC §12).

use std::path::{Path, PathBuf};

/// The `settings.environment_file` the configuration file at `config`
/// names, relative to its directory; `None` when it names none or cannot
/// be read (loading it properly reports that).
pub fn locate(config: &Path) -> Option<PathBuf> {
    let text = fs_err::read_to_string(config).ok()?;
    let document: toml_edit::DocumentMut = text.parse().ok()?;
    let named = document
        .get("settings")?
        .get("environment_file")?
        .as_str()?;
    let dir = config.parent().unwrap_or(Path::new("."));
    Some(super::absolute(&dir.join(named)))
}

/// `KEY=VALUE` assignments: blank lines and lines starting with `#` or `;`
/// are skipped, whitespace around the key and value is trimmed, and a value
/// in single or double quotes loses them. Lines without `=` or with a key
/// that is no variable name are skipped.
pub fn parse(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                return None;
            }
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            let valid = key
                .chars()
                .enumerate()
                .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
            if key.is_empty() || !valid {
                return None;
            }
            let value = value.trim();
            let unquoted = ['"', '\'']
                .iter()
                .find_map(|q| value.strip_prefix(*q)?.strip_suffix(*q))
                .unwrap_or(value);
            Some((key.to_owned(), unquoted.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_parse_as_systemd_reads_them() {
        let text = "# AWS\nAWS_ACCESS_KEY_ID=GK123\n; old\n  PGPASSWORD = \"s3cr=t\" \nEMPTY=\n1BAD=x\nno equals\nQUOTED='a b'\n";
        assert_eq!(
            parse(text),
            [
                ("AWS_ACCESS_KEY_ID", "GK123"),
                ("PGPASSWORD", "s3cr=t"),
                ("EMPTY", ""),
                ("QUOTED", "a b"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        );
    }

    #[test]
    fn the_file_is_found_relative_to_the_configuration() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("backup.toml");
        fs_err::write(&config, "[settings]\nenvironment_file = \"cairn.env\"\n").unwrap();
        assert_eq!(locate(&config), Some(dir.path().join("cairn.env")));
        fs_err::write(&config, "[settings]\n").unwrap();
        assert_eq!(locate(&config), None);
    }
}
