//! Role passwords travel to the server already hashed, the way psql's `\password` does it,
//! so the plain text never reaches the server's statement log; and an existing role's hash
//! can be checked against the password without logging in.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

use crate::platform::PgVersion;

const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> (Vec<u8>, Vec<u8>) {
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    let stored = Sha256::digest(hmac(&salted, b"Client Key")).to_vec();
    let server = hmac(&salted, b"Server Key");
    (stored, server)
}

pub fn scram_verifier(password: &str, salt: &[u8]) -> String {
    let (stored, server) = scram_keys(password, salt, ITERATIONS);
    format!(
        "SCRAM-SHA-256${ITERATIONS}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored),
        B64.encode(server)
    )
}

pub fn md5_verifier(password: &str, role: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(role.as_bytes());
    format!("md5{}", hex::encode(h.finalize()))
}

/// The hash to store for `role`, or None when it must be sent as plain text (non-ASCII
/// passwords go through SASLprep on the server, which we do not reimplement).
pub fn verifier_for(version: PgVersion, role: &str, password: &str) -> Option<String> {
    if !password.is_ascii() {
        return None;
    }
    if version.major >= 10 {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).ok()?;
        Some(scram_verifier(password, &salt))
    } else {
        Some(md5_verifier(password, role))
    }
}

/// Does the stored hash `verifier` belong to `password`?
pub fn matches(verifier: &str, role: &str, password: &str) -> bool {
    if let Some(rest) = verifier.strip_prefix("SCRAM-SHA-256$") {
        let parse = || -> Option<bool> {
            let (params, keys) = rest.split_once('$')?;
            let (iter, salt) = params.split_once(':')?;
            let (stored, _server) = keys.split_once(':')?;
            let salt = B64.decode(salt).ok()?;
            let (mine, _) = scram_keys(password, &salt, iter.parse().ok()?);
            Some(B64.decode(stored).ok()? == mine)
        };
        parse().unwrap_or(false)
    } else if verifier.starts_with("md5") {
        verifier == md5_verifier(password, role)
    } else {
        verifier == password
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_postgres() {
        // SELECT 'md5' || md5('secret' || 'replica');
        assert_eq!(
            md5_verifier("secret", "replica"),
            "md5153e8b240897ca61c0b8050268fd4a99"
        );
        assert!(matches(&md5_verifier("pw", "r"), "r", "pw"));
        assert!(!matches(&md5_verifier("pw", "r"), "r", "px"));
    }

    #[test]
    fn scram_round_trips_and_rejects_other_passwords() {
        let v = scram_verifier("it's $(secret)", b"0123456789abcdef");
        assert!(v.starts_with("SCRAM-SHA-256$4096:"));
        assert!(matches(&v, "replica", "it's $(secret)"));
        assert!(!matches(&v, "replica", "it's $(secret"));
        assert!(!matches("SCRAM-SHA-256$garbage", "replica", "x"));
    }
}
