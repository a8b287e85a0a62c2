//! Permission checks over many principals, ONE against SQLite: 10,000 people, each a
//! member of one group of a tenant with 10 departments of 10 teams (a reader, a writer,
//! or one in ten an admin, whose rights reach the groups below as ONE's default
//! `parentAccess` lets them), checked for `things:write` in a random team — the traffic
//! of a server with many users, where a cache of one principal's answers helps little.
//! Three phases, reported apart: each person's first check (all 10,000, in a shuffled
//! order, so ONE has met no one before), then 100,000 checks of random people, then the
//! first checks again after each engine's database was closed and opened again (a
//! restart: nothing cached in either engine, the file in the system's cache).
//!
//! ```sh
//! cargo run --release -p one-benches --features sqlite --example permissions
//! ```
//!
//! ONE: `Engine::can` with each person's context, on a database file (1 GiB cache).
//! SQLite: WAL, a 1 GiB cache, the membership table keyed by (person, group), and one
//! prepared recursive query up the group's ancestors. Every answer of both engines is
//! compared: the benchmark stops if they ever differ.

#![allow(clippy::disallowed_methods, reason = "a benchmark measures wall time")]

use std::time::Instant;

use one::*;

const PEOPLE: usize = 10_000;
const DEPARTMENTS: usize = 10;
const TEAMS: usize = 10;
const CHECKS: usize = 100_000;

/// A small deterministic generator (xorshift), the same for both engines.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What a membership gives.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Reader,
    Writer,
    /// Reads, writes and administers, here and (by default) in the groups below.
    Admin,
}

/// Where each person is a member (an index into `groups`) and as what.
struct Plan {
    memberships: Vec<(usize, Kind)>,
    /// The checks, by phase: a person and a team (an index into `groups`).
    phases: [Phase; 2],
}

/// A phase's name and its checks.
type Phase = (&'static str, Vec<(usize, usize)>);

/// The phase run again after a restart: everyone's first check.
fn restarted(plan: &Plan) -> [Phase; 1] {
    [("restart", plan.phases[0].1.clone())]
}

/// Group 0 is the root; 1..=10 the departments; then each department's teams.
fn parent_of(g: usize) -> Option<usize> {
    match g {
        0 => None,
        1..=DEPARTMENTS => Some(0),
        team => Some(1 + (team - 1 - DEPARTMENTS) / TEAMS),
    }
}

const GROUPS: usize = 1 + DEPARTMENTS + DEPARTMENTS * TEAMS;

fn plan() -> Plan {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let memberships = (0..PEOPLE)
        .map(|_| {
            let kind = match rng.below(20) {
                0 | 1 => Kind::Admin,
                n if n % 2 == 0 => Kind::Writer,
                _ => Kind::Reader,
            };
            (1 + rng.below(GROUPS - 1), kind)
        })
        .collect();
    let team = |rng: &mut Rng| 1 + DEPARTMENTS + rng.below(DEPARTMENTS * TEAMS);
    let mut everyone: Vec<usize> = (0..PEOPLE).collect();
    for i in (1..PEOPLE).rev() {
        everyone.swap(i, rng.below(i + 1));
    }
    let first = everyone.into_iter().map(|p| (p, team(&mut rng))).collect();
    let random = (0..CHECKS)
        .map(|_| (rng.below(PEOPLE), team(&mut rng)))
        .collect();
    Plan {
        memberships,
        phases: [("first", first), ("random", random)],
    }
}

/// Runs each phase's checks with `check`, reports the engine's rate per phase and how
/// many it allowed, and returns every answer.
fn run(engine: &str, phases: &[Phase], mut check: impl FnMut(usize, usize) -> bool) -> Vec<bool> {
    let mut all = Vec::new();
    for (phase, checks) in phases {
        let started = Instant::now();
        let answers: Vec<bool> = checks.iter().map(|&(p, g)| check(p, g)).collect();
        let took = started.elapsed();
        println!(
            "{engine:<7} {phase:<7} {:>6} checks: {:>9.0} checks/s ({:.2} µs each), {} allowed",
            checks.len(),
            checks.len() as f64 / took.as_secs_f64(),
            took.as_secs_f64() * 1e6 / checks.len() as f64,
            answers.iter().filter(|a| **a).count()
        );
        all.extend(answers);
    }
    all
}

fn one(plan: &Plan) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    let db = Ontology::open(dir.path().join("perm.redb")).unwrap();
    let root = db
        .admin()
        .create_root_group(NewGroup::new(GroupType::Organization, "Perm", "perm"))
        .unwrap()
        .id;
    let (groups, people) = db
        .write(&Context::system(root), |tx| {
            let mut groups = vec![root];
            for g in 1..GROUPS {
                let parent = groups[parent_of(g).unwrap_or(0)];
                let name = format!("g{g}");
                groups.push(
                    tx.create_group(parent, NewGroup::new(GroupType::Business, &name, &name))?
                        .id,
                );
            }
            let mut people = Vec::with_capacity(PEOPLE);
            for (p, &(g, kind)) in plan.memberships.iter().enumerate() {
                let person =
                    tx.create_person(NewPerson::new(format!("p{p}@perm.io"), format!("P{p}")))?;
                let (role, listed): (&str, &[&str]) = match kind {
                    Kind::Reader => ("member", &["read"]),
                    Kind::Writer => ("member", &["read", "write"]),
                    Kind::Admin => ("group_admin", &["admin"]),
                };
                tx.add_member(person.id, groups[g], role, listed)?;
                people.push(person.id);
            }
            Ok((groups, people))
        })
        .unwrap();
    let check = |db: &Ontology, p: usize, g: usize| {
        db.engine().can(
            &Context::person(people[p], root),
            Permission::ThingsWrite,
            groups[g],
        )
    };
    let mut answers = run("ONE", &plan.phases, |p, g| check(&db, p, g));
    drop(db);
    let db = Ontology::open(dir.path().join("perm.redb")).unwrap();
    answers.extend(run("ONE", &restarted(plan), |p, g| check(&db, p, g)));
    answers
}

/// The one prepared query of SQLite's check: is there a membership of person `?2` that
/// gives `things:write` at group `?1` (there, or from an ancestor that reaches down)?
#[cfg(feature = "sqlite")]
const SQLITE_CHECK: &str = "WITH RECURSIVE up(id, depth) AS (SELECT ?1, 0 UNION ALL
        SELECT g.parent, up.depth + 1 FROM groups g JOIN up ON g.id = up.id
        WHERE g.parent IS NOT NULL)
    SELECT EXISTS (SELECT 1 FROM up JOIN memberships m ON m.grp = up.id
        WHERE m.person = ?2 AND m.can_write = 1 AND (up.depth = 0 OR m.reaches_down = 1))";

/// The SQLite database at `path`, opened with the benchmark's settings.
#[cfg(feature = "sqlite")]
fn open_sqlite(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; {}",
        one_benches::sqlite::CACHE_PRAGMA
    ))
    .unwrap();
    conn
}

/// Runs `phases` on SQLite with its query prepared once.
#[cfg(feature = "sqlite")]
fn sqlite_checks(conn: &rusqlite::Connection, phases: &[Phase]) -> Vec<bool> {
    let mut check = conn.prepare(SQLITE_CHECK).unwrap();
    run("SQLite", phases, |p, g| {
        check
            .query_row(rusqlite::params![g as i64, p as i64], |r| r.get(0))
            .unwrap()
    })
}

#[cfg(feature = "sqlite")]
fn sqlite(plan: &Plan) -> Vec<bool> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("perm.sqlite");
    let mut conn = open_sqlite(&path);
    conn.execute_batch(
        "CREATE TABLE groups (id INTEGER PRIMARY KEY, parent INTEGER);
         CREATE TABLE memberships (person INTEGER NOT NULL, grp INTEGER NOT NULL,
             can_write INTEGER NOT NULL, reaches_down INTEGER NOT NULL,
             PRIMARY KEY (person, grp)) WITHOUT ROWID;",
    )
    .unwrap();
    let tx = conn.transaction().unwrap();
    for g in 0..GROUPS {
        tx.execute(
            "INSERT INTO groups (id, parent) VALUES (?1, ?2)",
            rusqlite::params![g as i64, parent_of(g).map(|p| p as i64)],
        )
        .unwrap();
    }
    for (p, &(g, kind)) in plan.memberships.iter().enumerate() {
        tx.execute(
            "INSERT INTO memberships (person, grp, can_write, reaches_down) VALUES (?1, ?2, ?3, ?4)",
            rusqlite::params![p as i64, g as i64, kind != Kind::Reader, kind == Kind::Admin],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    let mut answers = sqlite_checks(&conn, &plan.phases);
    drop(conn);
    answers.extend(sqlite_checks(&open_sqlite(&path), &restarted(plan)));
    answers
}

fn main() {
    let plan = plan();
    for _ in 0..2 {
        let ones = one(&plan);
        #[cfg(feature = "sqlite")]
        assert!(ones == sqlite(&plan), "the engines disagree");
        #[cfg(not(feature = "sqlite"))]
        drop(ones);
    }
}
