//! `Value` round trips: postcard (on disk), JSON (`to_json` / `from_json`) and serde's
//! human-readable form, on generated values; garbage bytes never panic the decoder.

use one_core::Value;
use proptest::prelude::*;

use crate::strategies::value;

proptest! {
    #[test]
    fn postcard_round_trips(v in value()) {
        let bytes = postcard::to_stdvec(&v).unwrap();
        prop_assert_eq!(postcard::from_bytes::<Value>(&bytes).unwrap(), v);
    }

    #[test]
    fn json_round_trips(v in value()) {
        let back = Value::from_json(&v.to_json());
        prop_assert!(back.loosely_equals(&v), "{:?} vs {:?}", back, v);
        // Through text, with exact floats: serde's human-readable form is that JSON.
        let text = serde_json::to_string(&v).unwrap();
        prop_assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = postcard::from_bytes::<Value>(&bytes);
    }
}
