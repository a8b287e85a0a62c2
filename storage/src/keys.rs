//! Order-preserving key encoding.
//!
//! Keys are compared as raw bytes (memcmp), so every component is written in a form whose
//! byte order equals its natural order: unsigned integers big-endian and fixed-width,
//! signed integers with the sign bit flipped, floats with the usual IEEE-754 bit twiddle,
//! and byte strings escaped and terminated so that a shorter string sorts before any
//! longer string it is a prefix of. A tuple of components therefore sorts exactly like the
//! tuple of values (lexicographically, component by component).
//!
//! String escaping: `0x00` becomes `0x00 0xFF`, and the string ends with `0x00 0x01`.
//! Length prefixes would be shorter but would sort by length first.

/// A key failed to decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key ended before the component being read.
    #[error("key truncated: needed {needed} more bytes for {component}")]
    Truncated {
        /// What was being read.
        component: &'static str,
        /// How many bytes were missing.
        needed: usize,
    },
    /// An escaped string held `0x00` followed by a byte other than `0xFF` or `0x01`.
    #[error("bad escape byte {byte:#04x} in a string component")]
    BadEscape {
        /// The byte after `0x00`.
        byte: u8,
    },
}

/// Builds a key component by component. Each method appends one component.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyBuf(Vec<u8>);

impl KeyBuf {
    /// An empty key.
    pub fn new() -> Self {
        Self(Vec::with_capacity(96))
    }

    /// Starts from an existing prefix.
    pub fn from_prefix(prefix: &[u8]) -> Self {
        let mut v = Vec::with_capacity(prefix.len() + 64);
        v.extend_from_slice(prefix);
        Self(v)
    }

    /// Appends one byte (a tag).
    pub fn u8(mut self, v: u8) -> Self {
        self.0.push(v);
        self
    }

    /// Appends a big-endian `u16`.
    pub fn u16(mut self, v: u16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u32`.
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u64`.
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends a big-endian `u128`.
    pub fn u128(mut self, v: u128) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }

    /// Appends an `i64` that sorts numerically (sign bit flipped, big-endian).
    pub fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&encode_i64(v));
        self
    }

    /// Appends an `f64` that sorts numerically (`-inf < … < -0.0 < 0.0 < … < +inf < NaN`).
    pub fn f64(mut self, v: f64) -> Self {
        self.0.extend_from_slice(&encode_f64(v));
        self
    }

    /// Appends an escaped, terminated byte string.
    pub fn bytes(mut self, v: &[u8]) -> Self {
        for &b in v {
            if b == 0 {
                self.0.extend_from_slice(&[0x00, 0xFF]);
            } else {
                self.0.push(b);
            }
        }
        self.0.extend_from_slice(&[0x00, 0x01]);
        self
    }

    /// Appends an escaped, terminated UTF-8 string.
    pub fn str(self, v: &str) -> Self {
        self.bytes(v.as_bytes())
    }

    /// Appends raw bytes with no escaping. Only for fixed-width components, or for the
    /// last component of a key.
    pub fn raw(mut self, v: &[u8]) -> Self {
        self.0.extend_from_slice(v);
        self
    }

    /// The key so far.
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }

    /// The finished key.
    pub fn finish(self) -> Vec<u8> {
        self.0
    }
}

/// The order-preserving form of an `i64`.
pub fn encode_i64(v: i64) -> [u8; 8] {
    ((v as u64) ^ (1 << 63)).to_be_bytes()
}

/// The order-preserving form of an `f64`.
pub fn encode_f64(v: f64) -> [u8; 8] {
    let bits = v.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    };
    ordered.to_be_bytes()
}

/// Reads the components of a key in the order they were written.
#[derive(Debug, Clone)]
pub struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    /// Reads `key` from its start.
    pub fn new(key: &'a [u8]) -> Self {
        Self { rest: key }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// Reads `n` raw bytes.
    pub fn raw(&mut self, n: usize, component: &'static str) -> Result<&'a [u8], KeyError> {
        if self.rest.len() < n {
            return Err(KeyError::Truncated {
                component,
                needed: n - self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self, component: &'static str) -> Result<[u8; N], KeyError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.raw(N, component)?);
        Ok(out)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, KeyError> {
        Ok(self.array::<1>("u8")?[0])
    }

    /// Reads a big-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, KeyError> {
        Ok(u16::from_be_bytes(self.array("u16")?))
    }

    /// Reads a big-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, KeyError> {
        Ok(u32::from_be_bytes(self.array("u32")?))
    }

    /// Reads a big-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, KeyError> {
        Ok(u64::from_be_bytes(self.array("u64")?))
    }

    /// Reads a big-endian `u128`.
    pub fn u128(&mut self) -> Result<u128, KeyError> {
        Ok(u128::from_be_bytes(self.array("u128")?))
    }

    /// Reads an `i64` written by [`KeyBuf::i64`].
    pub fn i64(&mut self) -> Result<i64, KeyError> {
        Ok((u64::from_be_bytes(self.array("i64")?) ^ (1 << 63)) as i64)
    }

    /// Reads an `f64` written by [`KeyBuf::f64`].
    pub fn f64(&mut self) -> Result<f64, KeyError> {
        let ordered = u64::from_be_bytes(self.array("f64")?);
        let bits = if ordered >> 63 == 1 {
            ordered & !(1 << 63)
        } else {
            !ordered
        };
        Ok(f64::from_bits(bits))
    }

    /// Reads a byte string written by [`KeyBuf::bytes`].
    pub fn bytes(&mut self) -> Result<Vec<u8>, KeyError> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match self.rest.get(i) {
                None => {
                    return Err(KeyError::Truncated {
                        component: "string",
                        needed: 2,
                    });
                }
                Some(0) => match self.rest.get(i + 1) {
                    Some(0xFF) => {
                        out.push(0);
                        i += 2;
                    }
                    Some(0x01) => {
                        self.rest = &self.rest[i + 2..];
                        return Ok(out);
                    }
                    Some(&byte) => return Err(KeyError::BadEscape { byte }),
                    None => {
                        return Err(KeyError::Truncated {
                            component: "string",
                            needed: 1,
                        });
                    }
                },
                Some(&b) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }

    /// Reads a UTF-8 string written by [`KeyBuf::str`]; invalid UTF-8 is replaced.
    pub fn string(&mut self) -> Result<String, KeyError> {
        let bytes = self.bytes()?;
        Ok(String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
    }
}

/// The smallest key greater than every key that starts with `prefix`, or `None` when no
/// such key exists (the prefix is empty or all `0xFF`).
pub fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last != 0xFF {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone, PartialEq, PartialOrd)]
    struct Tuple(u64, Vec<u8>, i64, String, u16);

    fn encode(t: &Tuple) -> Vec<u8> {
        KeyBuf::new()
            .u64(t.0)
            .bytes(&t.1)
            .i64(t.2)
            .str(&t.3)
            .u16(t.4)
            .finish()
    }

    fn decode(k: &[u8]) -> Result<Tuple, KeyError> {
        let mut r = KeyReader::new(k);
        let t = Tuple(r.u64()?, r.bytes()?, r.i64()?, r.string()?, r.u16()?);
        assert!(r.is_empty());
        Ok(t)
    }

    fn tuple() -> impl Strategy<Value = Tuple> {
        (
            prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>(), 0..4u64],
            proptest::collection::vec(
                prop_oneof![Just(0u8), Just(1u8), Just(0xFFu8), any::<u8>()],
                0..6,
            ),
            prop_oneof![
                Just(i64::MIN),
                Just(-1i64),
                Just(0i64),
                Just(i64::MAX),
                any::<i64>()
            ],
            "[a\\x00b]{0,4}",
            any::<u16>(),
        )
            .prop_map(|(a, b, c, d, e)| Tuple(a, b, c, d, e))
    }

    proptest! {
        #[test]
        fn tuples_round_trip(t in tuple()) {
            prop_assert_eq!(decode(&encode(&t)).unwrap(), t);
        }

        #[test]
        fn byte_order_is_tuple_order(a in tuple(), b in tuple()) {
            prop_assert_eq!(encode(&a).cmp(&encode(&b)), a.partial_cmp(&b).unwrap());
        }

        #[test]
        fn f64_order_and_round_trip(a in any::<f64>(), b in any::<f64>()) {
            let (ka, kb) = (encode_f64(a), encode_f64(b));
            prop_assert_eq!(KeyReader::new(&ka).f64().unwrap().to_bits(), a.to_bits());
            if !a.is_nan() && !b.is_nan() && a != b {
                prop_assert_eq!(ka.cmp(&kb), a.partial_cmp(&b).unwrap());
            }
        }

        #[test]
        fn prefix_successor_bounds_every_extension(p in proptest::collection::vec(any::<u8>(), 1..5), ext in proptest::collection::vec(any::<u8>(), 0..5)) {
            let mut k = p.clone();
            k.extend_from_slice(&ext);
            if let Some(s) = prefix_successor(&p) {
                prop_assert!(k < s);
                prop_assert!(p <= s);
            } else {
                prop_assert!(p.iter().all(|&b| b == 0xFF));
            }
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(k in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = decode_lenient(&k);
        }
    }

    fn decode_lenient(k: &[u8]) -> Result<(), KeyError> {
        let mut r = KeyReader::new(k);
        r.u64()?;
        r.bytes()?;
        r.i64()?;
        r.f64()?;
        Ok(())
    }

    #[test]
    fn negative_zero_sorts_before_positive_zero() {
        assert!(encode_f64(-0.0) < encode_f64(0.0));
        assert!(encode_f64(f64::NEG_INFINITY) < encode_f64(-1e300));
        assert!(encode_f64(f64::INFINITY) < encode_f64(f64::NAN));
    }

    #[test]
    fn bad_escape_is_reported() {
        let mut r = KeyReader::new(&[b'a', 0x00, 0x07]);
        assert_eq!(r.bytes(), Err(KeyError::BadEscape { byte: 0x07 }));
        let mut r = KeyReader::new(b"abc");
        assert!(matches!(r.bytes(), Err(KeyError::Truncated { .. })));
    }
}
