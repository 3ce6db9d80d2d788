//! The layout's promises, checked against the code so that they cannot silently stop being
//! true:
//!
//! - every call the core (the top-level `src/*.rs`) makes into `src/extras/` is named in the
//!   "entered from" column of the table in `src/extras/mod.rs`, and every call named there is
//!   made;
//! - no file of `src/` imports, directly or through others, a file that imports it back;
//! - every core file is in the README's table of core files.
//!
//! The code is read as text: comments and `#[cfg(test)]` modules are left out, `use` lines are
//! read as Rust reads them, and a call is a name the file imports from `extras/` followed by
//! `::f(`, or a field, parameter or `let` of a type from `extras/` followed by `.f(`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The repository's root.
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The code of a file without its comments and its `#[cfg(test)]` module: string literals are
/// kept (blanked), so that `"http://"` is not taken for a comment.
fn code_of(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap();
    let before_tests = match text.find("\n#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text,
    };
    let mut code = String::new();
    let mut chars = before_tests.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                // A comment: skipped to the end of the line.
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                // A string: kept as `""`, its contents dropped.
                code.push_str("\"\"");
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' => break,
                        _ => {}
                    }
                }
            }
            '\'' => {
                // A character literal ('{', '\n') is dropped; a lifetime ('a) is kept.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') || rest.chars().nth(1) == Some('\'') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                    code.push_str("' '");
                } else {
                    code.push(c);
                }
            }
            _ => code.push(c),
        }
    }
    code
}

/// The module a file is: `src/lib.rs` is `[]`, `src/router.rs` `["router"]`,
/// `src/extras/mod.rs` `["extras"]`, `src/extras/queue.rs` `["extras", "queue"]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).unwrap().with_extension("");
    let mut module: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if module
        .last()
        .is_some_and(|last| last == "mod" || last == "lib")
    {
        module.pop();
    }
    module
}

/// The `use` trees of `code`, each expanded to its paths: `use crate::a::{b, c::D};` gives
/// `crate::a::b` and `crate::a::c::D`.
fn use_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(at) = find_word(statement, "use") else {
            continue;
        };
        let tree: String = statement[at + 3..]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        expand(&tree, Vec::new(), &mut paths);
    }
    paths
}

/// Where `word` starts in `text` as a whole word, if it does.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).map(|(at, _)| at).find(|&at| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(is_ident) && !after.is_some_and(is_ident)
    })
}

/// Expands one use tree (`a::{b, c::{d, e}}`, no spaces) after `prefix` into `out`.
fn expand(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let Some(open) = tree.find('{') else {
        let mut path = prefix;
        let tree = tree.split(" as ").next().unwrap_or(tree);
        path.extend(tree.split("::").filter(|s| !s.is_empty()).map(String::from));
        out.push(path);
        return;
    };
    let mut path = prefix;
    path.extend(
        tree[..open]
            .split("::")
            .filter(|s| !s.is_empty())
            .map(String::from),
    );
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&inner[start..i], path.clone(), out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < inner.len() {
        expand(&inner[start..], path, out);
    }
}

/// The file (module) a path starting in `module` leads to: the longest known module that
/// begins it. `None` for paths outside the crate (std, serde, ...).
fn target(
    path: &[String],
    module: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut at: Vec<String> = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
        Some("self") => module.to_vec(),
        _ => return None,
    };
    for segment in &path[1..] {
        if segment == "self" {
            break;
        }
        let mut next = at.clone();
        next.push(segment.clone());
        if !modules.contains(&next) {
            break;
        }
        at = next;
    }
    Some(at)
}

/// Every path in `code` that starts with `crate::`, `super::` or `self::` outside `use` lines
/// (`crate::extras::output::print_line(...)`), as segments.
fn inline_paths(code: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for statement in code.split(';') {
        if find_word(statement.trim(), "use") == Some(0) {
            continue;
        }
        for start in ["crate::", "super::"] {
            for (at, _) in statement.match_indices(start) {
                let path: String = statement[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                paths.push(path.split("::").map(String::from).collect());
            }
        }
    }
    paths
}

/// Each module of `src/` and the modules it imports (its own submodules, which it declares,
/// left out: a `mod.rs` re-exporting its children is their parent, not a user of them).
fn imports() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let src = root().join("src");
    let files = rust_files(&src);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = module_of(&src, file);
        let code = code_of(file);
        let mut uses = BTreeSet::new();
        for path in use_paths(&code).into_iter().chain(inline_paths(&code)) {
            let Some(to) = target(&path, &module, &modules) else {
                continue;
            };
            let is_child = to.len() > module.len() && to.starts_with(&module);
            if to != module && !is_child {
                uses.insert(to);
            }
        }
        graph.insert(module, uses);
    }
    graph
}

/// `a::b` for `["a", "b"]`, `lib` for the crate root.
fn name(module: &[String]) -> String {
    if module.is_empty() {
        "lib".into()
    } else {
        module.join("::")
    }
}

#[test]
fn no_file_in_src_imports_a_file_that_imports_it_back() {
    let graph = imports();
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    // From each module, every module it reaches: a module that reaches itself is in a circle.
    let mut circles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut to_visit: Vec<&Vec<String>> = graph[start].iter().collect();
        while let Some(module) = to_visit.pop() {
            if module == start {
                circles.push(name(start));
                break;
            }
            if seen.insert(module.clone()) {
                to_visit.extend(graph.get(module).into_iter().flatten());
            }
        }
    }
    assert!(
        circles.is_empty(),
        "these modules import something that imports them back: {circles:?}\n{}",
        graph
            .iter()
            .map(|(from, to)| {
                let to: Vec<String> = to.iter().map(|m| name(m)).collect();
                format!("{} -> {}", name(from), to.join(", "))
            })
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(
        edges > 50,
        "only {edges} imports found: is the parser broken?"
    );
}

/// The calls each core file makes into each file of `extras/`: extras file -> core file ->
/// calls, as they are written (`queue.join`, `table_limit::spill_if_full`).
fn calls_into_extras() -> BTreeMap<String, BTreeMap<String, BTreeSet<String>>> {
    let src = root().join("src");
    let mut calls: BTreeMap<String, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files(&src) {
        if file.parent() != Some(src.as_path()) || file.ends_with("lib.rs") {
            continue;
        }
        let core_file = file.file_name().unwrap().to_string_lossy().into_owned();
        let code = code_of(&file);
        for (imported, extras_file) in imports_from_extras(&code) {
            let found = calls_through(&code, &imported);
            if !found.is_empty() {
                let by_file = calls.entry(extras_file).or_default();
                by_file.entry(core_file.clone()).or_default().extend(found);
            }
        }
    }
    calls
}

/// The names `code` imports from `extras/`, each with its file there: `use
/// crate::extras::limits::{self, Limits}` gives `limits` and `Limits`, both from `limits.rs`.
/// A module's name is followed by `::` in a call, a function's by `(`: `::` is added to each
/// module's name here.
fn imports_from_extras(code: &str) -> Vec<(String, String)> {
    let mut names = Vec::new();
    for path in use_paths(code) {
        if path.len() < 3 || path[0] != "crate" || path[1] != "extras" {
            continue;
        }
        // `sync` stands in for std's and parking_lot's locks: the table says which files take
        // them, and `sync_is_taken_by_the_files_the_table_names` checks it.
        if path[2] == "sync" {
            continue;
        }
        let file = format!("{}.rs", path[2]);
        let imported = match path.last().map(String::as_str) {
            Some("self") => format!("{}::", path[path.len() - 2]),
            Some(module) if path.len() == 3 => format!("{module}::"),
            Some(last) => last.to_string(),
            None => continue,
        };
        names.push((imported, file));
    }
    names
}

/// The calls `code` makes through `imported`: for a module (`limits::`), `limits::f(` and
/// `limits::T::f(`; for a type, `T::f(`, and `x.f(` on every field, parameter or `let` binding
/// `x` of that type; for a function, `f(`.
fn calls_through(code: &str, imported: &str) -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    let is_type = imported.starts_with(|c: char| c.is_uppercase());
    let prefix = match imported.strip_suffix("::") {
        Some(_) => imported.to_string(),
        None if is_type => format!("{imported}::"),
        None => imported.to_string(),
    };
    for (at, _) in code.match_indices(&prefix) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':' || c == '.') {
            continue;
        }
        let path: String = code[at..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        if !imported.ends_with("::") && !is_type && path != imported {
            continue; // Another name that begins like the function's.
        }
        let called = code[at + path.len()..].trim_start().starts_with('(');
        let last = path.rsplit("::").next().unwrap_or("");
        // A function, not a tuple struct or an enum variant being built or matched.
        if called && last.starts_with(|c: char| c.is_lowercase()) {
            calls.insert(path);
        }
    }
    if is_type {
        for binding in bindings_of_type(code, imported) {
            calls.extend(method_calls_on(code, &binding));
        }
    }
    calls
}

/// The names declared with type `ty` (`out: Output`, `limits: &'a Limits`, `failover:
/// Failover`), and those bound by `let x = Ty::f(...)`.
fn bindings_of_type(code: &str, ty: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let words: Vec<&str> = code
        .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':' || c == '&' || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    for (i, word) in words.iter().enumerate() {
        let Some(binding) = word.strip_suffix(':') else {
            continue;
        };
        // `x: T`, `x: &T`, `x: &'a T`, `x: Arc<T>`: the type is the first word after the
        // colon that is not a reference, a lifetime, `mut` or `Arc`.
        let declared = words[i + 1..]
            .iter()
            .map(|w| w.trim_start_matches('&'))
            .find(|w| !w.is_empty() && !w.starts_with('\'') && *w != "mut" && *w != "Arc");
        let is_ty = declared == Some(ty);
        if is_ty && binding.chars().all(|c| c.is_lowercase() || c == '_') {
            names.insert(binding.to_string());
        }
    }
    for (at, _) in code.match_indices("let ") {
        let rest = &code[at + 4..];
        let Some((binding, value)) = rest.split_once('=') else {
            continue;
        };
        let binding = binding.trim();
        if binding.chars().all(|c| c.is_lowercase() || c == '_')
            && value.trim_start().starts_with(&format!("{ty}::"))
        {
            names.insert(binding.to_string());
        }
    }
    names
}

/// `binding.f` for every `binding.f(` in `code` (rustfmt may put `.f(` on the next line).
fn method_calls_on(code: &str, binding: &str) -> BTreeSet<String> {
    let mut calls = BTreeSet::new();
    for (at, _) in code.match_indices(binding) {
        let before = code[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let Some(rest) = code[at + binding.len()..].trim_start().strip_prefix('.') else {
            continue;
        };
        let method: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if !method.is_empty() && rest[method.len()..].trim_start().starts_with('(') {
            calls.insert(format!("{binding}.{method}"));
        }
    }
    calls
}

/// The rows of the table in `src/extras/mod.rs`: file -> its "entered from" cell.
fn extras_table() -> BTreeMap<String, String> {
    let text = fs::read_to_string(root().join("src/extras/mod.rs")).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let Some(row) = line.strip_prefix("//! | `") else {
            continue;
        };
        let cells: Vec<&str> = row.split(" | ").collect();
        let file = cells[0].split('`').next().unwrap().to_string();
        let entered_from = cells
            .last()
            .unwrap()
            .trim_end_matches('|')
            .trim()
            .to_string();
        rows.insert(file, entered_from);
    }
    rows
}

/// The calls an "entered from" cell names: `` `router.rs`: `queue.join`, `Queue::new` ``
/// gives router.rs -> {queue.join, Queue::new}. Only code in backticks counts, and not within
/// parentheses (a comment); a backticked name ending in `.rs` starts the list of that file.
fn calls_named(cell: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut named: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut file = None;
    let mut depth = 0;
    let outside_parentheses: String = cell
        .chars()
        .filter(|&c| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => return depth == 0,
            }
            false
        })
        .collect();
    for (i, token) in outside_parentheses.split('`').enumerate() {
        if i % 2 == 0 {
            continue;
        }
        if token.ends_with(".rs") {
            file = Some(token.to_string());
        } else if let Some(file) = &file {
            named
                .entry(file.clone())
                .or_default()
                .insert(token.to_string());
        }
    }
    named
}

#[test]
fn every_call_from_the_core_into_extras_is_in_the_extras_table() {
    let table = extras_table();
    let found = calls_into_extras();
    let extras_files: BTreeSet<String> = rust_files(&root().join("src/extras"))
        .iter()
        .filter(|f| f.parent() == Some(root().join("src/extras").as_path()))
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .filter(|f| f != "mod.rs")
        .collect();
    let rows: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(
        rows, extras_files,
        "the table's rows and the files of src/extras/"
    );
    let core_files: BTreeSet<String> = rust_files(&root().join("src"))
        .iter()
        .filter(|f| f.parent() == Some(root().join("src").as_path()))
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut wrong = Vec::new();
    for (file, cell) in &table {
        // Only what the core calls is checked: the examples and other extras are named too.
        let named: BTreeMap<String, BTreeSet<String>> = calls_named(cell)
            .into_iter()
            .filter(|(from, _)| core_files.contains(from))
            .collect();
        let made = found.get(file).cloned().unwrap_or_default();
        if file != "sync.rs" && named != made {
            wrong.push(format!(
                "{file}: the table names {named:?}\n  the code makes {made:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "the \"entered from\" column of src/extras/mod.rs is not what the code does:\n{}",
        wrong.join("\n")
    );
    let count: usize = found
        .values()
        .flat_map(BTreeMap::values)
        .map(BTreeSet::len)
        .sum();
    assert!(
        count > 20,
        "only {count} calls found: is the parser broken?"
    );
}

#[test]
fn sync_is_taken_by_the_files_the_table_names() {
    let table = extras_table();
    let src = root().join("src");
    let mut taking: BTreeSet<String> = BTreeSet::new();
    for file in rust_files(&src) {
        let code = code_of(&file);
        let takes = use_paths(&code)
            .iter()
            .any(|path| path.len() > 2 && path[..3] == ["crate", "extras", "sync"]);
        if takes {
            taking.insert(file.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    let named: BTreeSet<String> = table["sync.rs"]
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|token| token.ends_with(".rs"))
        .map(String::from)
        .collect();
    assert_eq!(
        named, taking,
        "the files that take their locks from sync.rs"
    );
}

#[test]
fn every_core_file_is_in_the_readme() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    for path in rust_files(&root().join("src")) {
        if path.parent() != Some(root().join("src").as_path()) {
            continue;
        }
        let name = format!("`src/{}`", path.file_name().unwrap().to_string_lossy());
        assert!(
            readme.contains(&name),
            "{name} is not in the README's table of core files"
        );
    }
}
