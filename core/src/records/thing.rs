//! Things as stored: typed entities with free-form properties.
//!
//! Creating, changing and listing them is in `dimensions/things.rs`; their index entries
//! are in `index.rs`.

pub use one_vocabulary::records::thing::*;

use crate::base::codec::Record;

impl Record for Thing {
    const NAME: &'static str = "thing";
    const VERSION: u8 = 1;
}

use crate::base::id::{GroupId, ThingId};

/// The leading fields of a stored [`Thing`], read by [`crate::base::codec::decode_head`]
/// without decoding its name and properties: for checks on hot paths that need only its
/// type. Its fields must stay the first fields of `Thing`, in order (a test checks).
#[derive(Debug, serde::Deserialize)]
pub(crate) struct ThingHead<'a> {
    /// Its id.
    #[allow(dead_code, reason = "decoded to reach the fields after it")]
    pub(crate) id: ThingId,
    /// Its group.
    #[allow(dead_code, reason = "decoded to reach the fields after it")]
    pub(crate) group: GroupId,
    /// Its type.
    pub(crate) kind: &'a str,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base::codec;
    use crate::base::value::Value;

    #[test]
    fn a_head_is_the_leading_fields_of_a_thing() {
        let thing = Thing {
            id: ThingId::from_u128(7),
            group: GroupId::from_u128(9),
            kind: "person".into(),
            name: "Ada".into(),
            properties: Value::map().with("email", "ada@example.com"),
            status: ThingStatus::Active,
            created_at: crate::base::clock::Timestamp::from_millis(1),
            updated_at: crate::base::clock::Timestamp::from_millis(2),
        };
        let bytes = codec::encode(&thing).unwrap();
        let head: ThingHead<'_> = codec::decode_head::<Thing, _>(&bytes).unwrap();
        assert_eq!(
            (head.id, head.group, head.kind),
            (thing.id, thing.group, "person")
        );
        assert!(codec::decode_head::<Thing, ThingHead<'_>>(&bytes[..3]).is_err());
    }
}
