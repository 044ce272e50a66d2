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

/// 128 random bits, base64url without padding (22 characters): secrets that people carry and
/// scanners read, such as ticket codes, short enough for a small QR code and still unguessable.
pub fn random_code() -> String {
    let bytes: [u8; 16] = rand::rng().random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
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
    fn codes_carry_128_bits_in_url_safe_characters() {
        let codes: std::collections::HashSet<String> = (0..1000).map(|_| random_code()).collect();
        assert_eq!(codes.len(), 1000);
        for code in &codes {
            assert_eq!(code.len(), 22, "{code}");
            assert!(code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'), "{code}");
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
