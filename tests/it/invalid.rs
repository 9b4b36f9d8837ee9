//! The corpus of broken files under tests/fixtures/invalid: each one exits 1
//! without panicking, its errors sit on the lines marked `# <-`, and its
//! rendered diagnostic is snapshot-tested.

use crate::common::{invalid::check, root};

#[test]
fn every_broken_file_is_rejected_with_a_pointed_diagnostic() {
    let count = std::fs::read_dir(root().join("tests/fixtures/invalid"))
        .unwrap()
        .count();
    assert!(count >= 30, "the corpus has only {count} files");
    insta::glob!("../fixtures/invalid", "*.toml", |path| {
        let human = check(path);
        insta::assert_snapshot!("check", human.stderr);
    });
}
