//! Full-text search over things: the words of a query in the text fields declared for
//! their types (`Admin::create_text_index`), ranked by BM25 (see `records/text.rs` for
//! the index and the ranking).

pub use one_vocabulary::records::search::{TextQuery, ThingHit};

use one_storage::KvRead;

use crate::access::policy::Op;
use crate::base::id::ThingId;
use crate::base::layout::Corpus;
use crate::base::page::{Page, page_size};
use crate::base::permission::Permission;
use crate::base::validate;
use crate::kernel::View;
use crate::records::text::{TextTerms, ranked_page};
use crate::records::thing::{Thing, ThingStatus};
use crate::{Error, Result};

/// The longest query text, in bytes.
pub const MAX_QUERY_BYTES: usize = 4096;

impl<K: KvRead> View<'_, K> {
    /// Things whose text holds every word of the query (the last one as a prefix with
    /// `prefix`), most relevant first, that match its type and filter; from its group,
    /// and with `include_children` from every group below where the context may read
    /// things. Needs `things:read` in the group.
    pub fn search_things(&self, query: &TextQuery) -> Result<Page<ThingHit>> {
        if query.text.len() > MAX_QUERY_BYTES {
            return Err(Error::TooLarge {
                field: "text",
                limit: MAX_QUERY_BYTES,
                actual: query.text.len(),
            });
        }
        if let Some(kind) = &query.kind {
            validate::type_name("type", kind)?;
        }
        query.filter.check_paths::<Thing>()?;
        let terms = TextTerms::parse(&query.text, query.prefix)?;
        let group = query.group.unwrap_or(self.scope.ctx.group());
        self.authorize(Op::ListThings, group)?;
        let limit = page_size(query.limit)?;
        let groups = self.groups_with(group, query.include_children, Permission::ThingsRead)?;
        let ranked = self.text_matches(Corpus::Things, &groups, &terms)?;
        ranked_page(&ranked, query.cursor.as_ref(), limit, |id, score| {
            let key = self.scope.tenant.thing(ThingId::from_u128(id));
            let Some(thing) = self.get_record::<Thing>(&key)? else {
                return Ok(None);
            };
            let shown = thing.status != ThingStatus::Deleted
                && query.kind.as_ref().is_none_or(|k| *k == thing.kind)
                && query.filter.matches(&thing);
            Ok(shown.then_some(ThingHit {
                thing,
                score: score as f32,
            }))
        })
    }
}
