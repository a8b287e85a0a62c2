//! The layer rule of `core/src`: rooms (folders) in an order, each using only itself and
//! the rooms below it.
//!
//! A room uses another when one of its files names a path of it (`crate::access::…`, in
//! a `use` or in code), or calls a method that only rooms above it define on the
//! engine's shared types (`Engine`, `Admin`, `Tx`, `View`): those methods need no
//! import, so a path check alone would not see them. `lib.rs` and `assembly.rs` stand
//! above every room: they put the rooms together. The checker works on file texts, so
//! the tests of the test below can show it failing.

use std::collections::{BTreeMap, BTreeSet};

/// The rooms of `core/src`, bottom first. A room may use the rooms before it.
pub const ROOMS: &[(&str, &str)] = &[
    (
        "base",
        "the vocabulary crate's words (ids, values, errors, …) with encoding, key layout and paging",
    ),
    (
        "kernel",
        "the engine, its transactions and views, and the parts and hooks features plug into",
    ),
    (
        "records",
        "the stored records of each dimension and how they are found, with no rule about who may",
    ),
    (
        "access",
        "the policy point: memberships, the tenant boundary, what each operation needs",
    ),
    (
        "metering",
        "plans, usage and limits, rate limits, money and revenue share",
    ),
    (
        "plugins",
        "custom thing, connection and event types: lifecycle, schemas, validation, reads and reactions",
    ),
    (
        "dimensions",
        "the operations on groups, people, things, connections, events and memberships",
    ),
    (
        "knowledge",
        "knowledge chunks, embedding, search and the vector index",
    ),
    ("identity", "API keys, sign-up, sign-in and sessions"),
    (
        "operations",
        "work over the data as a whole: check, export and import, stats, the change feed",
    ),
];

/// Files of `core/src` that stand above every room.
pub const TOP: &[&str] = &["lib.rs", "assembly.rs", "fuzz.rs", "testkit.rs"];

/// The shared types whose methods any room may define.
const SHARED: &[&str] = &["Engine", "Admin", "Tx", "View"];

/// One `core/src` file: its path below `core/src` and its text.
pub struct Source {
    pub path: String,
    pub text: String,
}

/// The room of a file (`None` for the files above every room).
fn room_of(path: &str) -> Result<Option<&'static str>, String> {
    if TOP.contains(&path) {
        return Ok(None);
    }
    let first = path.split('/').next().unwrap_or_default();
    ROOMS
        .iter()
        .map(|(name, _)| *name)
        .find(|r| *r == first)
        .map(Some)
        .ok_or_else(|| {
            format!(
                "core/src/{path} is in no room: put it in one of the folders of the layer table ({})",
                ROOMS.iter().map(|(r, _)| *r).collect::<Vec<_>>().join(", ")
            )
        })
}

fn rank(room: &str) -> usize {
    ROOMS
        .iter()
        .position(|(r, _)| *r == room)
        .unwrap_or(usize::MAX)
}

/// Code without comments, so a doc that mentions another room is not a use of it.
fn code(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first two segments of the `crate::` paths in `code`: `crate::a::b::C` gives
/// `(a, b)`, and `crate::{a::b, c}` gives `(a, b)` and `(c, "")`.
fn crate_paths(code: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = inner
                .char_indices()
                .find(|&(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(inner.len(), |(i, _)| i);
            let mut depth = 0;
            let mut item = String::new();
            for c in inner[..end].chars().chain(std::iter::once(',')) {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(segments(&item));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            out.push(segments(rest));
        }
    }
    out.retain(|(first, _)| !first.is_empty());
    out
}

fn segments(path: &str) -> (String, String) {
    let first = first_segment(path);
    let second = path
        .trim()
        .get(first.len()..)
        .and_then(|r| r.strip_prefix("::"))
        .map(first_segment)
        .unwrap_or_default();
    (first, second)
}

fn first_segment(path: &str) -> String {
    path.trim()
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// Every function a file defines, whatever it belongs to.
fn all_fns(code: &str) -> BTreeSet<String> {
    code.split("fn ")
        .skip(1)
        .map(first_segment)
        .filter(|n| !n.is_empty())
        .collect()
}

/// The methods a file defines in inherent impls of the shared types.
fn shared_methods(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut inside = false;
    for line in code.lines() {
        if line.starts_with("impl") {
            // Inherent impls only: a trait's methods are found through the trait.
            inside = !line.contains(" for ")
                && SHARED.iter().any(|t| {
                    line.split(|c: char| !c.is_alphanumeric() && c != '_')
                        .any(|w| w == *t)
                });
        } else if line.starts_with('}') {
            inside = false;
        } else if inside
            && let Some(rest) = line
                .strip_prefix("    ")
                .map(|l| {
                    l.trim_start_matches("pub(crate) ")
                        .trim_start_matches("pub ")
                })
                .and_then(|l| l.strip_prefix("fn "))
        {
            out.insert(first_segment(rest));
        }
    }
    out
}

/// How the engine's shared types are reached in code: `self.x(`, `tx.x(`,
/// `self.view().x(`, `engine.x(`, or by type (`Engine::x`, `Self::x`).
const RECEIVERS: &[&str] = &[
    "self.", "tx.", "view.", "view().", "engine.", "admin.", "admin().",
];
const TYPE_PATHS: &[&str] = &["Engine::", "Admin::", "Tx::", "View::", "Self::"];

/// Whether `code` calls the method `name` on a shared type (`tx.name(`,
/// `self.view().name::<`) or names it as a function value (`Engine::name`).
fn calls(code: &str, name: &str) -> bool {
    let mut from = 0;
    while let Some(i) = code[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before = &code[..at];
        let after = &code[at + name.len()..];
        let ends_word = after
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric() && c != '_');
        let method_call = (after.starts_with('(') || after.starts_with("::<"))
            && RECEIVERS.iter().any(|r| {
                before.ends_with(r)
                    && !before[..before.len() - r.len()]
                        .ends_with(|c: char| c.is_alphanumeric() || c == '_')
            });
        let by_type = ends_word && TYPE_PATHS.iter().any(|p| before.ends_with(p));
        if method_call || by_type {
            return true;
        }
    }
    false
}

/// Every break of the layer rule in `sources`, each naming both files.
pub fn violations(sources: &[Source]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rooms = BTreeMap::new();
    for s in sources {
        match room_of(&s.path) {
            Ok(room) => {
                rooms.insert(s.path.clone(), room);
            }
            Err(e) => out.push(e),
        }
    }
    let module_file = |room: &str, module: &str| {
        let candidates = [
            format!("{room}/{module}.rs"),
            format!("{room}/{module}/mod.rs"),
        ];
        candidates
            .into_iter()
            .find(|c| sources.iter().any(|s| &s.path == c))
            .unwrap_or_else(|| format!("{room}/mod.rs"))
    };
    let codes: Vec<String> = sources.iter().map(|s| code(&s.text)).collect();
    // Paths: `crate::<room>::<module>` in a file of a room below it.
    for (s, code) in sources.iter().zip(&codes) {
        let Some(Some(room)) = rooms.get(&s.path) else {
            continue;
        };
        if code.contains("super::super") {
            out.push(format!(
                "core/src/{} reaches out of its room with `super::super`: name other rooms by `crate::` paths",
                s.path
            ));
        }
        for (target, module) in crate_paths(code) {
            let to = match target.as_str() {
                "Error" | "Result" => "base",
                t if t.starts_with(char::is_uppercase) => {
                    out.push(format!(
                        "core/src/{} names `crate::{t}`, which lib.rs re-exports for users: inside the crate, name it by its room's path",
                        s.path
                    ));
                    continue;
                }
                t => match ROOMS.iter().find(|(r, _)| *r == t) {
                    Some((r, _)) => *r,
                    None => {
                        out.push(format!(
                            "core/src/{} names `crate::{t}`, which is not a room",
                            s.path
                        ));
                        continue;
                    }
                },
            };
            if rank(to) > rank(room) {
                out.push(format!(
                    "core/src/{} (room `{room}`) imports from core/src/{} (room `{to}`, above it)",
                    s.path,
                    module_file(to, &module)
                ));
            }
        }
    }
    // Methods on the shared types, defined above the caller's room and nowhere at or
    // below it.
    let mut defined: BTreeMap<String, Vec<(&str, &str)>> = BTreeMap::new();
    let mut any_fn: BTreeMap<String, usize> = BTreeMap::new();
    for (s, code) in sources.iter().zip(&codes) {
        if let Some(Some(room)) = rooms.get(&s.path) {
            for m in shared_methods(code) {
                defined.entry(m).or_default().push((room, &s.path));
            }
            for f in all_fns(code) {
                let lowest = any_fn.entry(f).or_insert(usize::MAX);
                *lowest = (*lowest).min(rank(room));
            }
        }
    }
    for (s, code) in sources.iter().zip(&codes) {
        let Some(Some(room)) = rooms.get(&s.path) else {
            continue;
        };
        for (method, places) in &defined {
            // A function of that name at or below the caller may be the one it calls.
            let lowest = any_fn.get(method).copied().unwrap_or(usize::MAX);
            if lowest <= rank(room) || !calls(code, method) {
                continue;
            }
            let (to, file) = places[0];
            out.push(format!(
                "core/src/{} (room `{room}`) calls `{method}`, defined in core/src/{file} (room `{to}`, above it)",
                s.path
            ));
        }
    }
    out.extend(cycles(sources, &rooms, &codes));
    out.sort();
    out.dedup();
    out
}

/// The cycles among rooms, from the paths files name: a cycle always contains an
/// upward use, but naming the cycle shows what has to be cut.
fn cycles(
    sources: &[Source],
    rooms: &BTreeMap<String, Option<&'static str>>,
    codes: &[String],
) -> Vec<String> {
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for (s, code) in sources.iter().zip(codes) {
        let Some(Some(room)) = rooms.get(&s.path) else {
            continue;
        };
        for (target, _) in crate_paths(code) {
            if let Some((to, _)) = ROOMS.iter().find(|(r, _)| *r == target)
                && to != room
            {
                edges.entry(room).or_default().insert(to);
            }
        }
    }
    let mut out = Vec::new();
    for (start, _) in ROOMS {
        // Depth-first search for a path from `start` back to itself.
        let mut stack = vec![(*start, vec![*start])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges.get(at).into_iter().flatten() {
                if next == start {
                    let mut cycle = path.clone();
                    cycle.push(start);
                    // Report each cycle once, from its lowest room.
                    if cycle.iter().all(|r| rank(r) >= rank(start)) {
                        out.push(format!("rooms form a cycle: {}", cycle.join(" -> ")));
                    }
                } else if seen.insert(*next) {
                    let mut longer = path.clone();
                    longer.push(next);
                    stack.push((next, longer));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(path: &str, text: &str) -> Source {
        Source {
            path: path.into(),
            text: text.into(),
        }
    }

    #[test]
    fn a_downward_import_is_allowed() {
        let tree = [
            source("base/id.rs", "//! Ids.\npub struct GroupId;"),
            source(
                "records/group.rs",
                "//! Groups.\nuse crate::base::id::GroupId;\nuse crate::{Error, Result};",
            ),
        ];
        assert_eq!(violations(&tree), Vec::<String>::new());
    }

    #[test]
    fn an_upward_import_fails_naming_both_files() {
        let tree = [
            source(
                "base/error.rs",
                "//! Errors.\nuse crate::access::policy::Op;",
            ),
            source("access/policy.rs", "//! Policy.\npub enum Op {}"),
        ];
        let found = violations(&tree);
        assert!(
            found.iter().any(|v| v.contains("core/src/base/error.rs")
                && v.contains("core/src/access/policy.rs")
                && v.contains("above it")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_grouped_import_is_read_item_by_item() {
        let tree = [
            source(
                "kernel/engine.rs",
                "//! Engine.\nuse crate::{base::id::GroupId, metering::usage::Breach};",
            ),
            source("metering/usage.rs", "//! Usage."),
        ];
        let found = violations(&tree);
        assert!(
            found
                .iter()
                .any(|v| v.contains("kernel/engine.rs") && v.contains("metering/usage.rs")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_cycle_between_rooms_is_named() {
        let tree = [
            source(
                "records/thing.rs",
                "//! Things.\nuse crate::access::policy::Op;",
            ),
            source(
                "access/policy.rs",
                "//! Policy.\nuse crate::records::thing::Thing;",
            ),
        ];
        let found = violations(&tree);
        assert!(
            found.contains(&"rooms form a cycle: records -> access -> records".to_string()),
            "{found:#?}"
        );
    }

    #[test]
    fn calling_a_method_defined_only_above_fails() {
        let tree = [
            source(
                "records/thing.rs",
                "//! Things.\nimpl Tx<'_, '_> {\n    fn store(&mut self) {\n        self.authorize_thing(1);\n    }\n}\n",
            ),
            source(
                "access/policy.rs",
                "//! Policy.\nimpl<K: KvRead> View<'_, K> {\n    pub(crate) fn authorize_thing(&self, x: u8) {}\n}\n",
            ),
        ];
        let found = violations(&tree);
        assert!(
            found.iter().any(|v| v.contains("records/thing.rs")
                && v.contains("`authorize_thing`")
                && v.contains("access/policy.rs")),
            "{found:#?}"
        );
    }

    #[test]
    fn a_method_also_defined_at_or_below_is_not_counted() {
        let tree = [
            source(
                "records/thing.rs",
                "//! Things.\nimpl Tx<'_, '_> {\n    fn now(&self) {}\n    fn store(&mut self) {\n        self.now();\n    }\n}\n",
            ),
            source(
                "access/policy.rs",
                "//! Policy.\nimpl Engine {\n    pub fn now(&self) {}\n}\n",
            ),
        ];
        assert_eq!(violations(&tree), Vec::<String>::new());
    }

    #[test]
    fn a_file_outside_the_rooms_and_root_reexports_are_refused() {
        let tree = [
            source("things.rs", "//! Things."),
            source("records/thing.rs", "//! Things.\nuse crate::Thing;"),
        ];
        let found = violations(&tree);
        assert!(
            found
                .iter()
                .any(|v| v.contains("core/src/things.rs is in no room")),
            "{found:#?}"
        );
        assert!(
            found.iter().any(|v| v.contains("`crate::Thing`")),
            "{found:#?}"
        );
    }

    #[test]
    fn comments_are_not_uses() {
        let tree = [source(
            "base/id.rs",
            "//! Ids; see [`crate::operations`].\n/// Like `crate::access::policy`.\npub struct GroupId;",
        )];
        assert_eq!(violations(&tree), Vec::<String>::new());
    }
}
