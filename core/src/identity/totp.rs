//! Time-based one-time passwords (TOTP, RFC 6238), the codes authenticator apps show.
//!
//! The parameters every authenticator app understands and none asks about: HMAC-SHA1,
//! 6 digits, a 30-second step, counted from the Unix epoch. A code is accepted in its own
//! step and the one before or after it (clocks drift, people type slowly). The HMAC is
//! the RustCrypto `hmac` crate's; this file only applies RFC 4226's truncation to it.
//!
//! This file knows nothing of people or storage: [`crate::identity::two_factor`] keeps
//! the secrets and refuses a code whose step was already used (replay).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Digits of a code.
pub(crate) const DIGITS: u32 = 6;
/// Seconds of a step.
pub(crate) const STEP_SECS: u64 = 30;
/// Bytes of a secret: 160 bits, RFC 4226's recommendation for HMAC-SHA1.
pub(crate) const SECRET_BYTES: usize = 20;

/// The step a Unix time (milliseconds) falls in.
pub(crate) fn step_at(unix_ms: u64) -> u64 {
    unix_ms / 1000 / STEP_SECS
}

/// The code of `step` for `secret`, with `digits` digits (RFC 4226 §5.3). `None` only
/// if HMAC refused the key, which it does for no length.
fn code_with(secret: &[u8], step: u64, digits: u32) -> Option<u32> {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).ok()?;
    mac.update(&step.to_be_bytes());
    let hash = mac.finalize().into_bytes();
    let offset = usize::from(hash[hash.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        hash[offset] & 0x7f,
        hash[offset + 1],
        hash[offset + 2],
        hash[offset + 3],
    ]);
    Some(word % 10u32.pow(digits))
}

/// The 6-digit code of `step`, as the app shows it (leading zeros kept).
pub(crate) fn code(secret: &[u8], step: u64) -> Option<String> {
    let code = code_with(secret, step, DIGITS)?;
    Some(format!("{code:0width$}", width = DIGITS as usize))
}

/// The step `code` belongs to if it is the code of the step of `unix_ms` or of one of
/// its two neighbours; `None` for any other text (wrong digits, spaces inside, letters).
/// A code typed with spaces around it or in the middle of the two halves (`123 456`) is
/// read without them.
pub(crate) fn matching_step(secret: &[u8], code: &str, unix_ms: u64) -> Option<u64> {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let now = step_at(unix_ms);
    // Every candidate is computed, matching or not, so the time does not say which.
    let mut found = None;
    for step in [now.saturating_sub(1), now, now.saturating_add(1)] {
        let expected = self::code(secret, step)?;
        if crate::base::secret::constant_time_eq(expected.as_bytes(), digits.as_bytes())
            && found.is_none()
        {
            found = Some(step);
        }
    }
    found
}

/// A secret's text as authenticator apps take it: base32 without padding.
pub(crate) fn secret_text(secret: &[u8]) -> String {
    data_encoding::BASE32_NOPAD.encode(secret)
}

/// The `otpauth://` URI an authenticator app reads from a QR code: the issuer (whom the
/// app lists the code under) and the account name, percent-encoded. The parameters at
/// their defaults (SHA1, 6 digits, 30 s) are left out, as apps expect.
pub(crate) fn provisioning_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{}?secret={}&issuer={issuer}",
        percent_encode(account),
        secret_text(secret)
    )
}

/// `text` with every byte but RFC 3986's unreserved characters percent-encoded.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B: the SHA1 rows, 8 digits, key "12345678901234567890".
    #[test]
    fn rfc_6238_vectors() {
        let key = b"12345678901234567890";
        let rows: [(u64, u32); 6] = [
            (59, 94_287_082),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ];
        for (secs, expected) in rows {
            assert_eq!(
                code_with(key, step_at(secs * 1000), 8),
                Some(expected),
                "T = {secs}"
            );
            // Six digits are the last six of eight.
            assert_eq!(
                code(key, step_at(secs * 1000)).unwrap(),
                format!("{:06}", expected % 1_000_000)
            );
        }
    }

    #[test]
    fn a_code_matches_its_step_and_neighbours_only() {
        let key = [7u8; SECRET_BYTES];
        let now_ms = 1_700_000_000_000;
        let now = step_at(now_ms);
        for (step, ok) in [
            (now - 2, false),
            (now - 1, true),
            (now, true),
            (now + 1, true),
            (now + 2, false),
        ] {
            let c = code(&key, step).unwrap();
            let found = matching_step(&key, &c, now_ms);
            // A code of a far step may collide with a near one (1 in 10^6): then the near
            // step is what it matched.
            if ok {
                assert_eq!(found, Some(step));
            } else {
                assert!(found.is_none() || found != Some(step));
            }
        }
        let c = code(&key, now).unwrap();
        assert_eq!(
            matching_step(&key, &format!(" {} {} ", &c[..3], &c[3..]), now_ms),
            Some(now)
        );
        for bad in ["", "12345", "1234567", "12a456", "１２３４５６"] {
            assert_eq!(matching_step(&key, bad, now_ms), None, "{bad:?}");
        }
    }

    #[test]
    fn the_uri_is_what_apps_read() {
        assert_eq!(
            provisioning_uri("ONE", "alice@example.com", b"12345678901234567890"),
            "otpauth://totp/ONE:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ONE"
        );
        assert_eq!(percent_encode("Acme Inc: x/y"), "Acme%20Inc%3A%20x%2Fy");
    }
}
