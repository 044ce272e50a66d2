//! Small cryptographic helpers: random tokens and codes, hashing of stored secrets.

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::{Digest, Sha256};

/// 256 random bits, base64url without padding: refresh tokens, reset tokens, secrets.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Length of a [`random_code`].
pub const CODE_LENGTH: usize = 22;

/// 22 random letters and digits (131 bits): secrets that people carry and scanners read, such as
/// ticket codes. Short enough for a small QR code, safe in a URL, and never starting with a
/// character a spreadsheet would take for a formula (`-`, `=` …), so exports show them as they are.
pub fn random_code() -> String {
    rand::rng().sample_iter(rand::distr::Alphanumeric).take(CODE_LENGTH).map(char::from).collect()
}

/// Whether `text` has the shape of a [`random_code`] (checked before any lookup, so that no
/// stray byte, such as a NUL that PostgreSQL's text cannot hold, reaches the database).
pub fn is_code(text: &str) -> bool {
    text.len() == CODE_LENGTH && text.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A uniformly random six-digit code, leading zeros included.
pub fn six_digit_code() -> String {
    format!("{:06}", rand::rng().random_range(0..1_000_000u32))
}

/// Hex SHA-256: how high-entropy tokens are stored (they need no salt or stretching).
pub fn sha256_hex(data: &str) -> String {
    hex::encode(Sha256::digest(data.as_bytes()))
}

/// Hex HMAC-SHA256 under a server key: how low-entropy codes are stored, so a leaked table
/// cannot be brute-forced offline without the key.
pub fn hmac_hex(key: &[u8], data: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("hmac takes any key"));
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Equality that takes the same time wherever the inputs differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_carry_over_128_bits_in_letters_and_digits() {
        // 62^22 > 2^130.
        assert!(22.0 * 62f64.log2() > 130.0);
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| random_code()).collect();
        assert_eq!(codes.len(), 1000);
        for code in &codes {
            assert!(is_code(code), "{code}");
        }
        let joined: String = codes.iter().map(String::as_str).collect();
        for class in [u8::is_ascii_uppercase, u8::is_ascii_lowercase, u8::is_ascii_digit] {
            assert!(joined.bytes().any(|b| class(&b)), "every kind of character is drawn");
        }
        for bad in ["", "short", "abcdefghijklmnopqrstu-", "abcdefghijklmnopqrstu\0", "abcdefghijklmnopqrstuvw"] {
            assert!(!is_code(bad), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_long_and_distinct() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
    }

    #[test]
    fn codes_have_six_digits() {
        for _ in 0..200 {
            let c = six_digit_code();
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn hmac_depends_on_key_and_comparison_works() {
        assert_ne!(hmac_hex(b"k1", "123456"), hmac_hex(b"k2", "123456"));
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
