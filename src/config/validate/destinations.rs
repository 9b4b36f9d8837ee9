//! `[destinations.NAME]`: no two local destinations share a directory, and
//! S3 bucket names, prefixes, endpoints and storage classes are usable.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{path, Checker};
use crate::config::diagnostic::Diagnostic;
use crate::config::name::Name;
use crate::config::raw;

pub(super) fn check_destinations(
    checker: &mut Checker,
    destinations: BTreeMap<Name, raw::Destination>,
) -> BTreeMap<Name, raw::Destination> {
    let mut checked = BTreeMap::new();
    let mut local_paths: BTreeMap<PathBuf, Name> = BTreeMap::new();
    for (name, mut destination) in destinations {
        let at = |key: &str| path(&["destinations", name.as_str(), key]);
        match &mut destination {
            raw::Destination::Local(local) => {
                local.path = checker.resolve(&local.path);
                if let Some(other) = local_paths.insert(local.path.clone(), name.clone()) {
                    // Point at whichever of the two was written last.
                    let mut places = [
                        (
                            other.clone(),
                            checker.location(&path(&["destinations", other.as_str(), "path"])),
                        ),
                        (name.clone(), checker.location(&at("path"))),
                    ];
                    places.sort_by_key(|(_, location)| (location.source, location.span.start));
                    let [(first, first_at), (second, second_at)] = places;
                    checker.diagnostics.push(
                        Diagnostic::error(format!("destinations `{first}` and `{second}` are the same directory"))
                            .label(second_at, format!("`{second}` writes here"))
                            .label(first_at, format!("and so does `{first}`"))
                            .help("give each local destination its own directory; one destination can serve many jobs"),
                    );
                }
            }
            raw::Destination::S3(s3) => {
                if let Err(reason) = check_bucket(&s3.bucket) {
                    checker.error(&at("bucket"), format!("`{}` is not a valid bucket name: {reason}", s3.bucket), "invalid bucket", "bucket names are 3-63 lowercase letters, digits, dots and hyphens, starting and ending with a letter or digit");
                }
                if s3.prefix.starts_with('/') {
                    checker.error(
                        &at("prefix"),
                        "an S3 prefix does not start with `/`",
                        "leading slash",
                        format!("write prefix = \"{}\"", s3.prefix.trim_start_matches('/')),
                    );
                }
                if let Some(endpoint) = &s3.endpoint {
                    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                        checker.error(
                            &at("endpoint"),
                            format!("`{endpoint}` is not an http(s) URL"),
                            "not a URL",
                            "write the endpoint as a URL, e.g. \"http://127.0.0.1:3900\"",
                        );
                    }
                }
                if matches!(
                    s3.storage_class,
                    Some(raw::StorageClass::Glacier | raw::StorageClass::DeepArchive)
                ) {
                    checker.warning(&at("storage_class"), format!("destination `{name}`: objects in this storage class must be thawed before restore or verify can read them"), "restores need a thaw first", "use GLACIER_IR or STANDARD_IA for backups you want to restore or verify without delay");
                }
            }
        }
        checked.insert(name, destination);
    }
    checked
}

fn check_bucket(bucket: &str) -> Result<(), &'static str> {
    if !(3..=63).contains(&bucket.len()) {
        return Err("it must be 3 to 63 characters long");
    }
    if !bucket
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err("only lowercase letters, digits, dots and hyphens are allowed");
    }
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !edge(bucket.chars().next()) || !edge(bucket.chars().last()) {
        return Err("it must start and end with a letter or digit");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_follow_s3_rules() {
        assert!(check_bucket("backups-01.example").is_ok());
        for bad in [
            "ab",
            "Backups",
            "-x-bucket",
            "bucket_",
            "a".repeat(64).as_str(),
        ] {
            assert!(check_bucket(bad).is_err(), "{bad}");
        }
    }
}
