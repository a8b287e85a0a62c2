//! Byte strings in serde: lower-case hex text in human-readable formats (JSON), plain
//! bytes in binary ones. Use with `#[serde(with = "crate::bytes")]`.

use serde::{Deserialize, Deserializer, Serializer};

/// Writes `bytes` as hex text, or as bytes.
pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    if s.is_human_readable() {
        let mut text = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        s.serialize_str(&text)
    } else {
        s.serialize_bytes(bytes)
    }
}

/// Reads hex text (either case), or bytes.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    if d.is_human_readable() {
        let text = String::deserialize(d)?;
        let digit = |c: u8| char::from(c).to_digit(16);
        let b = text.as_bytes();
        if b.len() % 2 != 0 {
            return Err(serde::de::Error::custom(
                "hex text has an odd number of digits",
            ));
        }
        b.chunks_exact(2)
            .map(|pair| match (digit(pair[0]), digit(pair[1])) {
                (Some(hi), Some(lo)) => Ok((hi * 16 + lo) as u8),
                _ => Err(serde::de::Error::custom(
                    "hex text has a character that is not a hex digit",
                )),
            })
            .collect()
    } else {
        serde_bytes_vec(d)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

fn serde_bytes_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::new();
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    d.deserialize_byte_buf(Visitor)
}
