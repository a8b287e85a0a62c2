//! The `one` binary does what the README says.

use std::process::Command;

fn one(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_one"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn demo_builds_two_isolated_tenants_and_stats_reads_them_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/one.redb");
    let path = path.to_str().unwrap();
    let (ok, out, err) = one(&["demo", path]);
    assert!(ok, "demo failed: {err}");
    assert!(out.contains("== Tenant Acme Coffee"));
    assert!(out.contains("== Tenant Bookworms"));
    assert!(out.contains("products priced $10.00-$14.99: Colombia Huila, House Espresso"));
    assert!(!out.contains("ISOLATION BROKEN"));
    assert!(out.contains("Acme's owner reading the Bookworms group: group grp_"));
    assert!(out.contains("tenants      2"));
    // Running it again replaces the file instead of failing on duplicate slugs.
    let (ok, again, _) = one(&["demo", path]);
    assert!(ok);
    assert!(again.contains("live: people 6, things 6, connections 12"));
    assert!(again.contains("Frank's session may: things:read, things:write"));
    assert!(again.contains("the analytics key may: things:read\n"));
    assert!(again.contains("after revoking it: credential revoked"));
    assert!(again.contains("access_denied events logged: 1"));
    assert!(again.contains("things                   4 of 10000"));
    assert!(again.contains("revenue  4550 cents -> group  683 + platform 3867 (15.00 %)"));
    assert!(again.contains("report: 3 entries, total 6550 = group 983 + platform 5567 cents"));
    assert!(again.contains("\"how can I reset a forgotten password\" -> \"To reset your password"));
    assert!(again.contains("\"do you ship to canada\" -> \"We ship coffee to Canada"));
    let (ok, stats, _) = one(&["stats", path]);
    assert!(ok);
    assert!(stats.contains("tenants      2") && stats.contains("tenant acme"));
    let (ok, check, err) = one(&["check", path]);
    assert!(ok, "{check}{err}");
    assert!(
        check.contains(": 2 tenants,") && check.ends_with("checked: ok\n"),
        "{check}"
    );
    // Compacting keeps everything (the check still passes and the counts are the same).
    let (ok, compact, err) = one(&["compact", path]);
    assert!(ok && compact.contains("bytes before"), "{compact}{err}");
    let (ok, check, _) = one(&["check", path]);
    assert!(ok && check.ends_with("checked: ok\n"), "{check}");
    let (_, compacted_stats, _) = one(&["stats", path]);
    assert_eq!(compacted_stats, stats);
}

#[test]
fn bad_usage_and_missing_files_fail_with_a_message() {
    let (ok, _, err) = one(&["frobnicate"]);
    assert!(!ok && err.contains("usage: one demo"));
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.redb");
    for command in ["stats", "compact"] {
        let (ok, _, err) = one(&[command, missing.to_str().unwrap()]);
        assert!(!ok && err.contains("does not exist"), "{command}: {err}");
        assert!(!missing.exists(), "{command} created the file");
    }
}

#[test]
fn watch_prints_a_groups_changes_in_commit_order_and_resumes_after_an_id() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("one.redb");
    let path = path.to_str().unwrap();
    assert!(one(&["demo", path]).0);
    let (ok, out, err) = one(&[
        "watch",
        path,
        "--group",
        "acme",
        "--subtree",
        "--dimension",
        "things",
        "--type",
        "product",
        "--count",
        "3",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(
        lines
            .iter()
            .all(|l| l["type"] == "thing_created" && l["metadata"]["type"] == "product")
    );
    assert!(
        lines
            .windows(2)
            .all(|w| w[0]["seq"].as_u64() <= w[1]["seq"].as_u64())
    );
    // Resuming after the first line gives the second and third again, first.
    let first = lines[0]["id"].as_str().unwrap();
    let (ok, resumed, err) = one(&[
        "watch",
        path,
        "--group",
        "acme",
        "--subtree",
        "--dimension",
        "things",
        "--type",
        "product",
        "--after",
        first,
        "--count",
        "2",
    ]);
    assert!(ok, "{err}");
    let ids: Vec<serde_json::Value> = resumed
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].clone())
        .collect();
    assert_eq!(ids, [lines[1]["id"].clone(), lines[2]["id"].clone()]);

    let (ok, _, err) = one(&["watch", path, "--group", "nobody", "--count", "1"]);
    assert!(!ok && err.contains("not found"), "{err}");
    let (ok, _, err) = one(&["watch", path]);
    assert!(!ok && err.contains("--group is required"), "{err}");
}

#[test]
fn backup_export_and_import_move_a_tenant_between_files() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (db, copy, out, moved, again, by_domain) = (
        file("one.redb"),
        file("copy.redb"),
        file("acme.jsonl"),
        file("moved.redb"),
        file("again.jsonl"),
        file("by-domain.jsonl"),
    );
    assert!(one(&["demo", &db]).0);
    let (ok, text, err) = one(&["backup", &db, &copy]);
    assert!(ok && text.contains("a copy as of commit"), "{text}{err}");
    let (ok, text, _) = one(&["check", &copy]);
    assert!(ok && text.contains("checked: ok"), "{text}");
    let (ok, _, _) = one(&["backup", &db, &copy]);
    assert!(!ok, "a backup must not overwrite a file");

    let (ok, _, err) = one(&["export", &db, "--group", "acme", "--out", &out]);
    assert!(ok && err.contains("exported grp_"), "{err}");
    let (ok, text, err) = one(&["import", &moved, "--from", &out]);
    assert!(ok && text.contains("imported grp_"), "{text}{err}");
    let (ok, text, _) = one(&["check", &moved]);
    assert!(ok && text.contains(": 1 tenants,"), "{text}");
    assert!(one(&["export", &moved, "--group", "acme", "--out", &again]).0);
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&again).unwrap());
    // A tenant is also named by its domain (the demo gives Acme one).
    assert!(
        one(&[
            "export",
            &moved,
            "--group",
            "ACME.example",
            "--out",
            &by_domain
        ])
        .0
    );
    assert_eq!(
        std::fs::read(&out).unwrap(),
        std::fs::read(&by_domain).unwrap()
    );
    let (ok, _, err) = one(&["export", &moved, "--group", "nobody.example"]);
    assert!(!ok && err.contains("slug or domain"), "{err}");
    // Importing the same tenant twice is refused.
    let (ok, _, err) = one(&["import", &moved, "--from", &out]);
    assert!(!ok && err.contains("already"), "{err}");
    let (ok, _, err) = one(&["export", &db, "--grop", "acme"]);
    assert!(!ok && err.contains("unknown option --grop"), "{err}");
}

#[test]
fn serve_then_watch_over_http_and_stop_on_sigterm() {
    use std::io::BufRead as _;
    use std::process::Stdio;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("served.redb");
    let (key, first) = {
        let db = one::Ontology::open(&path).unwrap();
        let g = db
            .admin()
            .create_root_group(one::NewGroup::new(one::GroupType::Business, "S", "s"))
            .unwrap();
        let ctx = one::Context::system(g.id);
        let key = db
            .write(&ctx, |tx| {
                tx.create_api_key(one::NewApiKey::new("watcher", &["read"]))
            })
            .unwrap();
        for name in ["a", "b", "c"] {
            db.write(&ctx, |tx| tx.create_thing(one::NewThing::new("note", name)))
                .unwrap();
        }
        let first = db
            .read(&ctx, |v| {
                v.events(&one::EventQuery::latest().kind("thing_created").limit(3))
            })
            .unwrap()
            .items
            .last()
            .unwrap()
            .id;
        db.close().unwrap();
        (key.secret.expose().to_string(), first)
    };
    let mut server = Command::new(env!("CARGO_BIN_EXE_one"))
        .args([
            "serve",
            path.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(server.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let started: serde_json::Value =
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let url = format!("http://{}", started["listen"].as_str().unwrap());
    // After the first change: the two later ones, from the log, in commit order.
    let (ok, out, err) = one(&[
        "watch",
        "--url",
        &url,
        "--key",
        &key,
        "--dimension",
        "things",
        "--after",
        &first.to_string(),
        "--count",
        "2",
    ]);
    assert!(ok, "{err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines.iter().all(|l| l["type"] == "thing_created"));
    assert!(lines[0]["seq"].as_u64() < lines[1]["seq"].as_u64());
    // SIGTERM: the server finishes and exits cleanly.
    let status = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(server.wait().unwrap().success());
}
