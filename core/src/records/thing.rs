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
