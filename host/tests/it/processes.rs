//! Two engine instances in two processes on one PostgreSQL database: this test, and a
//! peer (this same test binary, started with `ONE_PEER` set to the database) that takes
//! one command per line on its standard input and answers with one `@` line.

use std::io::{BufRead, BufReader, Lines, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::Duration;

use one::*;

/// The test's own name, which the peer is started with.
const TEST: &str = "processes::two_processes_on_one_database_are_one_database";

/// The peer: runs commands on its own instance until `quit`.
fn peer(location: &str) {
    let db = Ontology::builder().connect(location).unwrap();
    for line in std::io::stdin().lock().lines() {
        let line = line.unwrap();
        let words: Vec<&str> = line.split(' ').collect();
        let group = |i: usize| words[i].parse::<GroupId>().unwrap();
        let answer = match words[0] {
            "revoke" => {
                let person: ThingId = words[1].parse().unwrap();
                db.write(&Context::system(group(2)), |tx| {
                    tx.remove_member(person, group(2)).map(drop)
                })
                .unwrap();
                "@ok".to_string()
            }
            "create" => {
                let t = db
                    .write(&Context::system(group(1)), |tx| {
                        tx.create_thing(NewThing::new("doc", words[2]))
                    })
                    .unwrap();
                format!("@id {}", t.id)
            }
            "race" => {
                let won = match db.write(&Context::system(group(1)), |tx| {
                    tx.create_thing(NewThing::new("doc", "last"))
                }) {
                    Ok(_) => true,
                    Err(Error::QuotaExceeded { .. }) => false,
                    Err(e) => panic!("{e:?}"),
                };
                format!("@race {won}")
            }
            "quit" => return,
            other => panic!("unknown command {other}"),
        };
        println!("{answer}");
    }
}

/// The peer process, seen from the test.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Peer {
    fn start(location: &str) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
            .env("ONE_PEER", location)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            lines,
        }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// The peer's next answer (libtest may print other lines, or text before it).
    fn answer(&mut self) -> String {
        for line in self.lines.by_ref() {
            if let Some((_, answer)) = line.unwrap().split_once('@') {
                return answer.to_string();
            }
        }
        panic!("the peer ended without answering")
    }

    fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.answer()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.child.wait();
    }
}

#[test]
fn two_processes_on_one_database_are_one_database() {
    if let Ok(location) = std::env::var("ONE_PEER") {
        return peer(&location);
    }
    let scratch = one_core::testkit::postgres_store();
    let location = format!(
        "{} options=-csearch_path={}",
        one_storage::test_server(),
        scratch.schema().unwrap()
    );
    let db = Ontology::builder().connect(&location).unwrap();
    let mut peer = Peer::start(&location);
    let g = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Business, "Acme", "acme"))
        .unwrap();
    let sys = Context::system(g.id);

    // A permission revoked in the peer is refused here at the next call.
    let ann = db
        .write(&sys, |tx| {
            let ann = tx.create_person(NewPerson::new("ann@example.com", "Ann"))?;
            tx.add_member(ann.id, g.id, "group_user", &["things:write"])?;
            Ok(ann.id)
        })
        .unwrap();
    let as_ann = Context::person(ann, g.id);
    assert!(db.engine().can(&as_ann, Permission::ThingsWrite, g.id));
    assert_eq!(peer.ask(&format!("revoke {ann} {}", g.id)), "ok");
    assert!(!db.engine().can(&as_ann, Permission::ThingsWrite, g.id));

    // The peer's commits reach a subscriber here, in commit order; ids never collide.
    let mut live = db.engine().subscribe(&sys, ChangeFilter::new()).unwrap();
    let mut made = Vec::new();
    for i in 0..10 {
        peer.send(&format!("create {} p{i}", g.id));
        let mine = db
            .write(&sys, |tx| {
                tx.create_thing(NewThing::new("doc", format!("m{i}")))
            })
            .unwrap()
            .id;
        let theirs: ThingId = peer.answer().strip_prefix("id ").unwrap().parse().unwrap();
        made.extend([mine, theirs]);
    }
    let mut distinct = made.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), 20);
    let mut seen = Vec::new();
    while seen.len() < 20 {
        let e = live
            .next_timeout(db.engine(), Duration::from_secs(20))
            .unwrap()
            .expect("every change arrives");
        seen.push(e);
    }
    assert!(
        seen.windows(2)
            .all(|w| w[0].id < w[1].id && w[0].seq < w[1].seq)
    );
    let mut targets: Vec<Ref> = seen.iter().filter_map(|e| e.target).collect();
    targets.sort_by_key(|r| r.to_u128());
    let expected: Vec<Ref> = distinct.iter().map(|t| Ref::from(*t)).collect();
    assert_eq!(targets, expected);

    // 20 races for the last unit of a quota: one winner each.
    for race in 0..20 {
        let t = db
            .admin()
            .create_root_group(NewGroup::new(GroupType::Business, "R", format!("r{race}")))
            .unwrap();
        let ctx = Context::system(t.id);
        db.write(&ctx, |tx| {
            tx.update_group(
                t.id,
                GroupUpdate::default().properties(Value::from_json(&serde_json::json!({
                    "limits": {"things": 1}
                }))),
            )
        })
        .unwrap();
        peer.send(&format!("race {}", t.id));
        let here = db
            .write(&ctx, |tx| tx.create_thing(NewThing::new("doc", "last")))
            .is_ok();
        let there = peer.answer() == "race true";
        assert!(here ^ there, "race {race}: here {here}, there {there}");
    }
    drop(peer);
    drop(db);
    drop(scratch);
}
