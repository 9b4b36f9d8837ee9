//! The corpus of broken files under tests/fixtures/invalid: each one exits 1
//! without panicking, its errors sit on the lines marked `# <-`, and its
//! rendered diagnostic is snapshot-tested.

use std::collections::BTreeSet;
use std::path::Path;

use crate::common::{cairn, root, run};

fn marked_lines(text: &str) -> BTreeSet<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains("# <-"))
        .map(|(i, _)| i + 1)
        .collect()
}

fn check(path: &Path) {
    let dir = path.parent().unwrap();
    let file = path.file_name().unwrap().to_str().unwrap();
    let human = run(cairn(dir).args(["--config", file, "validate"]));
    assert_eq!(
        human.code, 1,
        "{file} should be invalid:\n{}{}",
        human.stdout, human.stderr
    );
    assert!(
        !human.stderr.contains("panicked"),
        "{file} panicked:\n{}",
        human.stderr
    );
    insta::assert_snapshot!(human.stderr);

    let json = run(cairn(dir).args(["--config", file, "validate", "--json"]));
    assert_eq!(json.code, 1);
    let report: serde_json::Value =
        serde_json::from_str(&json.stdout).expect("validate --json prints JSON");
    assert_eq!(report["valid"], false);
    let errors: Vec<&serde_json::Value> = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert!(!errors.is_empty(), "{file}: no error reported");
    for error in &errors {
        assert!(
            error["help"].as_str().is_some_and(|h| !h.is_empty()),
            "{file}: an error without help: {error}"
        );
    }
    let text = String::from_utf8_lossy(&std::fs::read(path).unwrap()).into_owned();
    let expected = marked_lines(&text);
    let reported: BTreeSet<usize> = errors
        .iter()
        .flat_map(|e| e["labels"].as_array().unwrap())
        .filter_map(|label| label["line"].as_u64())
        .map(|line| line as usize)
        .collect();
    if expected.is_empty() {
        // Files with nowhere to point (empty, not text) point at line 1 or nowhere.
        assert!(
            reported.iter().all(|l| *l == 1),
            "{file}: errors on lines {reported:?}"
        );
    } else {
        assert_eq!(
            reported, expected,
            "{file}: errors on lines {reported:?}, marked {expected:?}\n{}",
            human.stderr
        );
    }
}

#[test]
fn every_broken_file_is_rejected_with_a_pointed_diagnostic() {
    let count = std::fs::read_dir(root().join("tests/fixtures/invalid"))
        .unwrap()
        .count();
    assert!(count >= 30, "the corpus has only {count} files");
    insta::glob!("../fixtures/invalid", "*.toml", check);
}
