//! Secrets the engine hands out: API keys, session tokens and one-time tokens.
//!
//! Every secret has the same shape: a kind prefix (`ok_live_`, `ok_test_`, `ok_sess_`,
//! `ok_once_`), 32 base62 characters from the OS random source (190 bits), and 6 base62
//! characters of CRC-32 over everything before them. The prefix lets a secret scanner
//! recognise a leaked secret, and the checksum rejects a mistyped or truncated one without
//! a database read. The engine stores only the SHA-256 digest of a secret: these secrets
//! are high-entropy, so a fast hash is safe (a slow password hash would add latency to
//! every call and no security), and lookups go by digest.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Error, Result};

/// The alphabet of secrets: exactly the ASCII letters and digits, so a character is
/// checked with [`u8::is_ascii_alphanumeric`].
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 32;
const CHECK_CHARS: usize = 6;

/// What a secret is for; each kind has its own prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// A live API key (`ok_live_`).
    LiveKey,
    /// A test API key (`ok_test_`).
    TestKey,
    /// A session token (`ok_sess_`).
    Session,
    /// A one-time token: a magic link, an email verification (`ok_once_`).
    OneTime,
}

impl SecretKind {
    /// The text every secret of this kind starts with.
    pub const fn prefix(self) -> &'static str {
        match self {
            SecretKind::LiveKey => "ok_live_",
            SecretKind::TestKey => "ok_test_",
            SecretKind::Session => "ok_sess_",
            SecretKind::OneTime => "ok_once_",
        }
    }

    const ALL: [SecretKind; 4] = [
        SecretKind::LiveKey,
        SecretKind::TestKey,
        SecretKind::Session,
        SecretKind::OneTime,
    ];
}

/// A secret's SHA-256: what is stored and looked up.
pub type SecretDigest = [u8; 32];

/// A fresh secret of `kind`, in text form.
pub fn generate(kind: SecretKind) -> Result<String> {
    let body_len = kind.prefix().len() + RANDOM_CHARS;
    let mut text = String::with_capacity(body_len + CHECK_CHARS);
    text.push_str(kind.prefix());
    while text.len() < body_len {
        let mut random = [0u8; 48];
        getrandom::fill(&mut random).map_err(|e| Error::Corrupt {
            what: "random source",
            reason: format!("the OS random source failed: {e}"),
        })?;
        // Rejection sampling keeps every character uniform: 248 = 4 * 62.
        for b in random.into_iter().filter(|b| *b < 248) {
            if text.len() < body_len {
                text.push(char::from(BASE62[usize::from(b % 62)]));
            }
        }
    }
    let check = checksum(text.as_bytes());
    text.push_str(&check);
    Ok(text)
}

/// Checks a secret's shape and checksum and returns its kind and digest. Any fault is
/// [`Error::InvalidCredentials`], which does not say what was wrong.
pub fn parse(text: &str) -> Result<(SecretKind, SecretDigest)> {
    let kind = SecretKind::ALL
        .into_iter()
        .find(|k| text.starts_with(k.prefix()))
        .ok_or(Error::InvalidCredentials)?;
    let body_len = kind.prefix().len() + RANDOM_CHARS;
    if text.len() != body_len + CHECK_CHARS
        || !text.as_bytes()[kind.prefix().len()..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
    {
        return Err(Error::InvalidCredentials);
    }
    let (body, check) = text.split_at(body_len);
    if !constant_time_eq(checksum(body.as_bytes()).as_bytes(), check.as_bytes()) {
        return Err(Error::InvalidCredentials);
    }
    Ok((kind, digest(text)))
}

/// SHA-256 of a secret's text.
pub fn digest(text: &str) -> SecretDigest {
    Sha256::digest(text.as_bytes()).into()
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The CRC-32 (IEEE, reflected) lookup table.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

/// CRC-32 (IEEE) of `bytes`, as 6 base62 characters.
fn checksum(bytes: &[u8]) -> String {
    let crc = !bytes.iter().fold(!0u32, |crc, &b| {
        CRC_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8)
    });
    let mut n = crc;
    let mut out = [b'0'; CHECK_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// The first characters of a secret, safe to show: the prefix and four random characters.
pub fn display_prefix(text: &str) -> String {
    let kind_len = SecretKind::ALL
        .into_iter()
        .find(|k| text.starts_with(k.prefix()))
        .map_or(0, |k| k.prefix().len());
    text.chars().take(kind_len + 4).collect()
}

/// A secret, shown once. Its `Debug` form hides it; serialised, it is its text (a response
/// that carries one is the only place it is ever shown).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The secret's text, to hand to its holder.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_parse_and_differ() {
        let a = generate(SecretKind::LiveKey).unwrap();
        let b = generate(SecretKind::LiveKey).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 8 + 32 + 6);
        let (kind, d) = parse(&a).unwrap();
        assert_eq!(kind, SecretKind::LiveKey);
        assert_eq!(d, digest(&a));
        assert_eq!(display_prefix(&a), a[..12]);
    }

    #[test]
    fn the_checksum_is_crc32() {
        // The standard check value of CRC-32/ISO-HDLC: 0xCBF43926 = 3421780262, in base62.
        let mut n: u32 = 0xCBF4_3926;
        let mut want = [b'0'; 6];
        for slot in want.iter_mut().rev() {
            *slot = BASE62[(n % 62) as usize];
            n /= 62;
        }
        assert_eq!(checksum(b"123456789").as_bytes(), want);
    }

    #[test]
    fn the_alphabet_is_exactly_the_ascii_letters_and_digits() {
        let all: Vec<u8> = (0u8..=127).filter(u8::is_ascii_alphanumeric).collect();
        assert_eq!(all, BASE62.to_vec());
    }

    #[test]
    fn every_single_character_typo_is_caught() {
        let key = generate(SecretKind::TestKey).unwrap();
        for i in 8..key.len() {
            for c in BASE62 {
                let mut typo = key.clone().into_bytes();
                if typo[i] == *c {
                    continue;
                }
                typo[i] = *c;
                let typo = String::from_utf8(typo).unwrap();
                assert!(
                    matches!(parse(&typo), Err(Error::InvalidCredentials)),
                    "{typo} passed"
                );
            }
        }
    }

    #[test]
    fn malformed_secrets_are_invalid_credentials() {
        let key = generate(SecretKind::Session).unwrap();
        for bad in [
            "",
            "ok_sess_",
            "ok_nope_0000",
            &key[..key.len() - 1],
            &format!("{key}0"),
            &key.replace("ok_sess_", "ok_live_"),
            &format!("{}é{}", &key[..10], &key[12..]),
        ] {
            assert!(
                matches!(parse(bad), Err(Error::InvalidCredentials)),
                "{bad:?}"
            );
        }
    }
}
