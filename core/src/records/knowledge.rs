//! Knowledge chunks as stored: text with labels, a source and an embedding.
//!
//! Adding, searching and indexing them is in `knowledge/`.

pub use one_vocabulary::records::knowledge::*;

use crate::base::codec::Record;
impl Record for Knowledge {
    const NAME: &'static str = "knowledge";
    const VERSION: u8 = 1;
}
