//! Support of the `invalid` test: what every broken file of
//! tests/fixtures/invalid must do.

use std::collections::BTreeSet;
use std::path::Path;

use super::{Cairn, Run};

/// The numbers of the lines marked `# <-`.
fn marked_lines(text: &str) -> BTreeSet<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains("# <-"))
        .map(|(i, _)| i + 1)
        .collect()
}

/// Checks everything but the rendered diagnostic of the broken file at
/// `path`: it exits 1 without panicking, and `validate --json` reports
/// errors, each with help, on exactly the lines marked `# <-`. Returns the
/// run of `validate`, whose stderr the test snapshots.
pub fn check(path: &Path) -> Run {
    let dir = path.parent().unwrap();
    let file = path.file_name().unwrap().to_str().unwrap();
    let human = Cairn::new(dir).config(file).arg("validate").run();
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
    let json = Cairn::new(dir)
        .config(file)
        .args(["validate", "--json"])
        .run();
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
    human
}
