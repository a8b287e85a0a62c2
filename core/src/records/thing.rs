//! Things as stored: typed entities with free-form properties.
//!
//! Creating, changing and listing them is in `dimensions/things.rs`; their index entries
//! are in `index.rs`.

pub use one_vocabulary::records::thing::*;

use serde::Deserialize;

use crate::base::codec::Record;
use crate::base::id::{GroupId, ThingId};
use crate::base::value::ValueRef;

impl Record for Thing {
    const NAME: &'static str = "thing";
    const VERSION: u8 = 1;
}

/// Where a stored thing lives: its first two fields, read without its properties
/// ([`crate::base::codec::decode_prefix`] of a [`Thing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) struct ThingPlace {
    pub(crate) id: ThingId,
    pub(crate) group: GroupId,
}

/// A stored thing's fields up to its status, read in place
/// ([`crate::base::codec::decode_in`] of a [`Thing`]): what a check of its type and state
/// needs, without building its properties.
#[derive(Debug, Deserialize)]
pub(crate) struct ThingHead<'a> {
    _id: ThingId,
    pub(crate) group: GroupId,
    pub(crate) kind: &'a str,
    _name: &'a str,
    #[serde(borrow)]
    _properties: ValueRef<'a>,
    pub(crate) status: ThingStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::clock::Timestamp;
    use crate::base::codec;
    use crate::base::value::Value;

    #[test]
    fn a_things_place_and_head_are_read_from_its_stored_bytes() {
        let thing = Thing {
            id: ThingId::from_u128(7 << 80 | 1),
            group: GroupId::from_u128(9 << 80 | 2),
            kind: "ticket".into(),
            name: "A ticket".into(),
            properties: Value::map().with("seat", "12A").with("price", 30),
            status: ThingStatus::Active,
            created_at: Timestamp::from_millis(1),
            updated_at: Timestamp::from_millis(2),
        };
        let bytes = codec::encode(&thing).unwrap();
        let place: ThingPlace = codec::decode_prefix::<Thing, _>(&bytes).unwrap();
        assert_eq!((place.id, place.group), (thing.id, thing.group));
        let head: ThingHead = codec::decode_in::<Thing, _>(&bytes).unwrap();
        assert_eq!(
            (head.group, head.kind, head.status),
            (thing.group, "ticket", ThingStatus::Active)
        );
        let mut other_version = bytes.clone();
        other_version[0] = Thing::VERSION + 1;
        assert!(codec::decode_prefix::<Thing, ThingPlace>(&other_version).is_err());
    }
}
