//! People as stored: things of type `person`, found by id or by their normalised email.
//!
//! Creating people and finding them by email for a context is in `dimensions/people.rs`.

pub use one_vocabulary::records::person::*;

use one_storage::KvRead;

use crate::base::id::ThingId;
use crate::kernel::View;
use crate::records::thing::Thing;
use crate::{Error, Result};

impl<K: KvRead> View<'_, K> {
    /// Loads a person of this tenant, in any of its groups.
    pub(crate) fn load_person(&self, id: ThingId) -> Result<Thing> {
        let thing: Thing = self
            .get_record(&self.scope.tenant.thing(id))?
            .ok_or_else(|| Error::not_found(id))?;
        // Another kind of thing is answered as no person at all: the answer must not tell
        // a caller what type a record it may not read has.
        if thing.kind != PERSON {
            return Err(Error::not_found(id));
        }
        Ok(thing)
    }
}
