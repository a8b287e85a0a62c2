//! Indexes added after the first file format, built once when an older file is opened:
//! the text index, the groups' lists of things of every type, and the groups' lists of
//! connections. `M T` marks a file that has them; every writer keeps them from then on.
//! `M W` holds the layout of the text index's segments: a file whose text index has
//! another (or one key per posting, written before segments) has it rebuilt once.

use std::collections::HashMap;
use std::ops::ControlFlow;

use one_storage::{Direction, KeyRange, KvRead, WriteTx};

use crate::base::context::Env;
use crate::base::id::GroupId;
use crate::base::layout::{self, Corpus, Counter, TenantKeys};
use crate::records::connection::{Connection, copy_keys};
use crate::records::index::{IndexDef, list_keys};
use crate::records::knowledge::Knowledge;
use crate::records::text::{TextDoc, add_to_counter, load_text_defs, thing_doc};
use crate::records::text_index;
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// Installs the open hook that builds the later indexes of files written before them.
pub(crate) fn install(hooks: &mut crate::kernel::Hooks) {
    hooks.open.push(build_once);
}

/// Builds the later indexes once, for a database written before them, in one
/// transaction. A read-only store is never written: an old file opened so finds nothing
/// by text, lists nothing of every type and no connection by group until it is opened
/// for writing.
fn build_once(engine: &crate::kernel::Engine) -> Result<()> {
    let store = engine.store();
    if store.is_read_only() {
        return Ok(());
    }
    let (built, text_current) = {
        let read = store.read()?;
        (
            read.get(&layout::later_indexes())?.is_some(),
            read.get(&layout::text_layout())?.as_deref() == Some(&[layout::TEXT_LAYOUT][..]),
        )
    };
    if built && text_current {
        return Ok(());
    }
    engine.transact(|kv| {
        let defs = load_text_defs(&*kv)?;
        for root in crate::records::group::tenant_roots(&*kv)? {
            for env in [Env::Live, Env::Test] {
                let keys = TenantKeys::new(root, env);
                if built {
                    rebuild_text(kv, &keys, &defs)?;
                } else {
                    build_tenant(kv, &keys, &defs)?;
                }
            }
        }
        kv.put(layout::later_indexes(), [1])?;
        kv.put(layout::text_layout(), [layout::TEXT_LAYOUT])?;
        Ok(())
    })
}

/// Rebuilds a text index of an earlier layout (one key per posting, or segments laid
/// out otherwise) from the records; its counts stay right.
fn rebuild_text(kv: &mut WriteTx<'_>, keys: &TenantKeys, defs: &[IndexDef]) -> Result<()> {
    kv.delete_prefix(&keys.old_text_postings())?;
    kv.delete_prefix(&keys.all_text())?;
    index_documents(kv, keys, text_documents(kv, keys, defs)?)?;
    Ok(())
}

/// Every document of one tenant's environment the text index holds.
fn text_documents(
    kv: &WriteTx<'_>,
    keys: &TenantKeys,
    defs: &[IndexDef],
) -> Result<Vec<(GroupId, Corpus, u128, TextDoc)>> {
    let mut docs = Vec::new();
    for (t, _) in records::<Thing>(kv, &keys.things())? {
        if let Some(doc) = thing_doc(defs, &t) {
            docs.push((t.group, Corpus::Things, t.id.to_u128(), doc));
        }
    }
    for (k, _) in records::<Knowledge>(kv, &keys.all_knowledge())? {
        let doc = TextDoc::of([k.text.as_str()]);
        docs.push((k.group, Corpus::Knowledge, k.id.to_u128(), doc));
    }
    Ok(docs)
}

/// Puts `docs` in the text index; returns the change of each group's counts.
fn index_documents(
    kv: &mut WriteTx<'_>,
    keys: &TenantKeys,
    docs: Vec<(GroupId, Corpus, u128, TextDoc)>,
) -> Result<HashMap<(GroupId, Counter), i64>> {
    let mut counts: HashMap<(GroupId, Counter), i64> = HashMap::new();
    for (group, corpus, id, doc) in docs {
        let (d, w) = text_index::write_doc(kv, keys, group, corpus, id, None, Some(doc))?;
        let (docs, words) = corpus.counters();
        *counts.entry((group, docs)).or_default() += d;
        *counts.entry((group, words)).or_default() += w;
    }
    text_index::seal(kv, text_index::Merges::Writer)?;
    Ok(counts)
}

/// The records of one tenant's environment, decoded.
fn records<R: crate::base::codec::Record>(
    kv: &WriteTx<'_>,
    prefix: &[u8],
) -> Result<Vec<(R, Vec<u8>)>> {
    let mut out = Vec::new();
    kv.scan(&KeyRange::prefix(prefix), Direction::Forward, |_, v| {
        out.push((crate::base::codec::decode(v)?, v.to_vec()));
        Ok::<_, Error>(ControlFlow::Continue(()))
    })?;
    Ok(out)
}

/// Builds the later indexes of one tenant's environment.
fn build_tenant(kv: &mut WriteTx<'_>, keys: &TenantKeys, defs: &[IndexDef]) -> Result<()> {
    for (t, _) in records::<Thing>(kv, &keys.things())? {
        if t.status != ThingStatus::Deleted {
            for key in list_keys(keys, &t) {
                kv.put(key, [])?;
            }
        }
    }
    for (c, record) in records::<Connection>(kv, &keys.connections())? {
        let [_, _, listed] = copy_keys(keys, &c);
        kv.put(listed, record)?;
    }
    let docs = text_documents(kv, keys, defs)?;
    for ((group, counter), n) in index_documents(kv, keys, docs)? {
        add_to_counter(kv, keys.counter(group, counter), n)?;
    }
    Ok(())
}
