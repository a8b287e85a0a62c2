//! The same workload on SQLite, as a competent engineer would set it up: WAL,
//! `synchronous=FULL`, prepared statements, an index for every query, and the memory
//! budget ONE gets (a 1 GiB page cache, [`CACHE_PRAGMA`]).
//!
//! Reads return the same fields ONE returns; properties are read as the stored JSON text
//! (not parsed), which favours SQLite slightly.

use rusqlite::{Connection, params};

use crate::{EVENTS, GROUPS, LINKS, Rng, SOURCES, thing};

/// A SQLite database loaded with the workload.
pub struct SqliteDb {
    /// The connection.
    pub conn: Connection,
    /// How many things were made.
    pub things: usize,
    _dir: tempfile::TempDir,
}

/// One row of `things`, as a caller would read it.
#[derive(Debug)]
pub struct Row {
    /// Id.
    pub id: i64,
    /// Group.
    pub grp: i64,
    /// Type.
    pub kind: String,
    /// Name.
    pub name: String,
    /// Properties as JSON text.
    pub props: String,
    /// Status.
    pub status: String,
}

/// One event as read back: id, type, target, time, metadata.
pub type EventRow = (i64, String, Option<i64>, i64, String);

impl Row {
    /// Reads the columns `id, grp, type, name, props, status`.
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Row {
            id: r.get(0)?,
            grp: r.get(1)?,
            kind: r.get(2)?,
            name: r.get(3)?,
            props: r.get(4)?,
            status: r.get(5)?,
        })
    }
}

const INSERT_THING: &str = "INSERT INTO things (grp, type, name, status, price, props, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";

/// The page cache every connection gets: 1 GiB, ONE's default cache (redb reads with
/// `pread` through its own cache, so neither engine maps the file).
pub const CACHE_PRAGMA: &str = "PRAGMA cache_size = -1048576;";

const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = FULL;
CREATE TABLE things (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, type TEXT NOT NULL, name TEXT NOT NULL,
    status TEXT NOT NULL, price INTEGER, props TEXT NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
CREATE INDEX things_by_type_price ON things (grp, type, price);
CREATE TABLE connections (id INTEGER PRIMARY KEY, src INTEGER NOT NULL, type TEXT NOT NULL, dst INTEGER NOT NULL,
    grp INTEGER NOT NULL, meta TEXT NOT NULL, created INTEGER NOT NULL);
CREATE INDEX connections_out ON connections (src, type, dst);
CREATE INDEX connections_in ON connections (dst, type, src);
CREATE TABLE events (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, type TEXT NOT NULL, actor INTEGER,
    target INTEGER, time INTEGER NOT NULL, meta TEXT NOT NULL);
CREATE INDEX events_by_group ON events (grp, time);
CREATE INDEX events_by_type ON events (grp, type, time);
CREATE INDEX events_by_actor ON events (grp, actor, time);
CREATE INDEX events_by_target ON events (grp, target, time);
";

impl SqliteDb {
    /// An empty database file in a temporary folder.
    pub fn empty() -> rusqlite::Result<Self> {
        let dir = tempfile::tempdir()
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        let conn = Connection::open(dir.path().join("bench.sqlite"))?;
        conn.execute_batch(CACHE_PRAGMA)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn,
            things: 0,
            _dir: dir,
        })
    }

    /// The bytes of the database file and its write-ahead log, after a checkpoint that
    /// moves the log into the file.
    pub fn bytes_on_disk(&self) -> rusqlite::Result<u64> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        let file = self._dir.path().join("bench.sqlite");
        let size = |p: std::path::PathBuf| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        Ok(size(file.clone()) + size(file.with_extension("sqlite-wal")))
    }

    /// Inserts `n` things in one transaction.
    pub fn bulk_things(&mut self, n: usize) -> rusqlite::Result<()> {
        self.insert_things(n, false)
    }

    /// Inserts `n` things in one transaction and, as ONE does, an audit event for each
    /// (indexed by group, type, actor and target, like ONE's event indexes).
    pub fn bulk_things_audited(&mut self, n: usize) -> rusqlite::Result<()> {
        self.insert_things(n, true)
    }

    fn insert_things(&mut self, n: usize, audited: bool) -> rusqlite::Result<()> {
        let mut rng = Rng::new(1);
        let tx = self.conn.transaction()?;
        {
            let mut insert_thing = tx.prepare_cached(INSERT_THING)?;
            let mut insert_event = tx.prepare_cached(
                "INSERT INTO events (grp, type, actor, target, time, meta) VALUES (?1, 'thing_created', 0, ?2, ?3, ?4)",
            )?;
            for i in 0..n {
                let (g, kind, name, price, status) = thing(i, &mut rng);
                let props = format!(r#"{{"name":"{name}","price":{price},"status":"{status}"}}"#);
                insert_thing.execute(params![
                    g as i64, kind, name, status, price, props, i as i64
                ])?;
                if audited {
                    let id = tx.last_insert_rowid();
                    let meta = format!(r#"{{"name":"{name}","type":"{kind}"}}"#);
                    insert_event.execute(params![g as i64, id, i as i64, meta])?;
                }
            }
        }
        tx.commit()?;
        self.things += n;
        Ok(())
    }

    /// Inserts one thing in its own (durable) transaction.
    pub fn create_thing(&self, i: usize) -> rusqlite::Result<i64> {
        insert_durable_thing(&self.conn, i)
    }

    /// Inserts one thing and its audit event in their own durable transaction, as ONE's
    /// create does.
    pub fn create_thing_audited(&self, i: usize) -> rusqlite::Result<i64> {
        create_thing_audited(&self.conn, i)
    }

    /// A new connection to the same file, set up as the first (WAL, `synchronous=FULL`,
    /// the same cache), waiting up to 10 s for the write lock.
    pub fn connect(&self) -> rusqlite::Result<Connection> {
        let path = self
            .conn
            .path()
            .map(std::path::PathBuf::from)
            .ok_or_else(|| rusqlite::Error::InvalidPath(std::path::PathBuf::from("(in memory)")))?;
        let conn = Connection::open(path)?;
        conn.execute_batch(&format!("PRAGMA synchronous = FULL; {CACHE_PRAGMA}"))?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(conn)
    }

    /// Reads one thing by id.
    pub fn get(&self, id: i64) -> rusqlite::Result<Row> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, grp, type, name, props, status FROM things WHERE id = ?1",
        )?;
        st.query_row([id], Row::read)
    }

    /// Things of one type in one group with `lo <= price < hi`.
    pub fn list_price_range(
        &self,
        grp: usize,
        kind: &str,
        lo: i64,
        hi: i64,
    ) -> rusqlite::Result<Vec<Row>> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, grp, type, name, props, status FROM things WHERE grp = ?1 AND type = ?2 AND price >= ?3 AND price < ?4",
        )?;
        let rows = st.query_map(params![grp as i64, kind, lo, hi], Row::read)?;
        rows.collect()
    }

    /// Inserts `n` connections in one transaction.
    pub fn bulk_connections(&mut self, n: usize) -> rusqlite::Result<()> {
        self.insert_connections(n, false)
    }

    /// Inserts `n` connections in one transaction and, as ONE does, an audit event for
    /// each (`connection_created`, indexed by group, type, actor and target).
    pub fn bulk_connections_audited(&mut self, n: usize) -> rusqlite::Result<()> {
        self.insert_connections(n, true)
    }

    fn insert_connections(&mut self, n: usize, audited: bool) -> rusqlite::Result<()> {
        let mut rng = Rng::new(2);
        let sources = SOURCES.min(self.things);
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO connections (src, type, dst, grp, meta, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            let mut insert_event = tx.prepare_cached(
                "INSERT INTO events (grp, type, actor, target, time, meta) VALUES (0, 'connection_created', 0, ?1, ?2, ?3)",
            )?;
            for i in 0..n {
                let src = (i % sources) as i64 + 1;
                let dst = rng.below(self.things) as i64 + 1;
                let kind = LINKS[(i / sources) % LINKS.len()];
                let meta = format!(r#"{{"weight":{}}}"#, i % 7);
                st.execute(params![src, kind, dst, 0, meta, i as i64])?;
                if audited {
                    let id = tx.last_insert_rowid();
                    let meta = format!(r#"{{"from":{src},"to":{dst},"type":"{kind}"}}"#);
                    insert_event.execute(params![id, i as i64, meta])?;
                }
            }
        }
        tx.commit()
    }

    /// Outgoing connections of `src` of type `kind`: (connection id, destination, metadata).
    pub fn neighbours(&self, src: i64, kind: &str) -> rusqlite::Result<Vec<(i64, i64, String)>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, dst, meta FROM connections WHERE src = ?1 AND type = ?2")?;
        let rows = st.query_map(params![src, kind], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        rows.collect()
    }

    /// Appends `n` events to group 0 in one transaction.
    pub fn bulk_events(&mut self, n: usize) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO events (grp, type, actor, target, time, meta) VALUES (0, ?1, NULL, ?2, ?3, ?4)",
            )?;
            for i in 0..n {
                let meta = format!(r#"{{"n":{i}}}"#);
                st.execute(params![
                    EVENTS[i % EVENTS.len()],
                    (i % self.things.max(1)) as i64 + 1,
                    i as i64,
                    meta
                ])?;
            }
        }
        tx.commit()
    }

    /// The latest `n` events of group 0: (id, type, target, time, metadata).
    pub fn latest_events(&self, n: usize) -> rusqlite::Result<Vec<EventRow>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT id, type, target, time, meta FROM events WHERE grp = 0 ORDER BY time DESC LIMIT ?1")?;
        let rows = st.query_map([n as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })?;
        rows.collect()
    }
}

/// Inserts one thing and its audit event on `conn` in their own durable transaction, as
/// ONE's create does.
pub fn create_thing_audited(conn: &Connection, i: usize) -> rusqlite::Result<i64> {
    let tx = conn.unchecked_transaction()?;
    let id = {
        let id = insert_durable_thing(&tx, i)?;
        let mut event = tx.prepare_cached(
            "INSERT INTO events (grp, type, actor, target, time, meta) VALUES (?1, 'thing_created', 0, ?2, ?3, ?4)",
        )?;
        event.execute(params![
            (i % GROUPS) as i64,
            id,
            i as i64,
            r#"{"name":"durable","type":"product"}"#
        ])?;
        id
    };
    tx.commit()?;
    Ok(id)
}

/// Inserts thing `i` of the durable-create workload on `conn` and returns its id.
fn insert_durable_thing(conn: &Connection, i: usize) -> rusqlite::Result<i64> {
    let mut st = conn.prepare_cached(INSERT_THING)?;
    st.execute(params![
        (i % GROUPS) as i64,
        "product",
        "durable",
        "active",
        100,
        r#"{"price":100}"#,
        i as i64
    ])?;
    Ok(conn.last_insert_rowid())
}
