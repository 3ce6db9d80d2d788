//! The README's promises about the layout, kept true: the core (the top-level `src/*.rs`, each
//! counted up to its `#[cfg(test)]` module) is at most 1,500 lines in at most 12 files, each
//! named in the README's table of core files, and each example is at most 60 lines, so that it
//! reads like the Rust Book's `main`.

use std::fs;
use std::path::Path;

/// The lines of a file up to (without) its first `#[cfg(test)]` line.
fn lines_before_tests(path: &Path) -> usize {
    let text = fs::read_to_string(path).unwrap();
    text.lines()
        .take_while(|line| line.trim_start() != "#[cfg(test)]")
        .count()
}

/// The files of `dir` whose name ends in `.rs`, sorted.
fn rust_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_core_is_at_most_1500_lines_in_12_files_each_in_the_readme() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = fs::read_to_string(root.join("README.md")).unwrap();
    let core = rust_files(&root.join("src"));
    let total: usize = core.iter().map(|path| lines_before_tests(path)).sum();
    assert!(core.len() <= 12, "{} core files: {core:?}", core.len());
    assert!(
        total <= 1500,
        "the core has {total} lines, more than the README's 1,500"
    );
    for path in &core {
        let name = format!("`src/{}`", path.file_name().unwrap().to_string_lossy());
        assert!(
            readme.contains(&name),
            "{name} is not in the README's table of core files"
        );
    }
}

#[test]
fn each_example_is_at_most_60_lines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let examples = rust_files(&root.join("examples"));
    assert_eq!(examples.len(), 3, "client, router and server: {examples:?}");
    for path in examples {
        let lines = fs::read_to_string(&path).unwrap().lines().count();
        assert!(lines <= 60, "{} has {lines} lines", path.display());
    }
}
