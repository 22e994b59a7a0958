//! Role passwords travel to the server already hashed, the way psql's `\password` does it,
//! so the plain text never reaches the server's statement log; and an existing role's hash
//! can be checked against the password without logging in.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};
use stringprep::tables;
use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroizing;

use crate::platform::PgVersion;

const ITERATIONS: u32 = 4096;

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(msg);
    m.finalize().into_bytes().to_vec()
}

/// The password as PostgreSQL hashes it for SCRAM: SASLprep'd (RFC 4013), or the raw text
/// when SASLprep refuses it. Both the server (`ALTER ROLE ... PASSWORD`) and libpq on the
/// standby run `pg_saslprep` (src/common/saslprep.c), so this must give what it gives, not
/// what the RFC says: it checks the mapped text *before* normalising, and treats text that
/// maps to nothing as refused. `stringprep::saslprep` checks after normalising and accepts
/// the empty result, so for a few inputs (U+0340, some Hebrew presentation forms, a lone
/// soft hyphen) it would give a hash the standby cannot log in with; its tables are used.
pub fn scram_password(password: &str) -> Cow<'_, str> {
    // pg_saslprep's shortcut: ASCII, control characters included, is used as it is.
    if password.is_ascii() {
        return Cow::Borrowed(password);
    }
    // 1) Map: non-ASCII spaces to a space, then drop what maps to nothing.
    let mapped: Vec<char> = password
        .chars()
        .map(|c| {
            if tables::non_ascii_space_character(c) {
                ' '
            } else {
                c
            }
        })
        .filter(|&c| !tables::commonly_mapped_to_nothing(c))
        .collect();
    if mapped.is_empty() || mapped.iter().any(|&c| prohibited(c)) || bad_bidi(&mapped) {
        return Cow::Borrowed(password);
    }
    // 2) Normalise (NFKC).
    Cow::Owned(mapped.into_iter().nfkc().collect())
}

/// RFC 4013's prohibited output (C.1.2, C.2.1 to C.9) and the unassigned code points of
/// Unicode 3.2 (A.1), which pg_saslprep refuses too.
fn prohibited(c: char) -> bool {
    tables::non_ascii_space_character(c)
        || tables::ascii_control_character(c)
        || tables::non_ascii_control_character(c)
        || tables::private_use(c)
        || tables::non_character_code_point(c)
        || tables::surrogate_code(c)
        || tables::inappropriate_for_plain_text(c)
        || tables::inappropriate_for_canonical_representation(c)
        || tables::change_display_properties_or_deprecated(c)
        || tables::tagging_character(c)
        || tables::unassigned_code_point(c)
}

/// RFC 3454 section 6: right-to-left text holds no left-to-right character and starts and
/// ends with a right-to-left one.
fn bad_bidi(text: &[char]) -> bool {
    if !text.iter().any(|&c| tables::bidi_r_or_al(c)) {
        return false;
    }
    let ends_rtl = |c: Option<&char>| c.is_some_and(|&c| tables::bidi_r_or_al(c));
    text.iter().any(|&c| tables::bidi_l(c)) || !ends_rtl(text.first()) || !ends_rtl(text.last())
}

fn scram_keys(password: &str, salt: &[u8], iterations: u32) -> (Vec<u8>, Vec<u8>) {
    // The prepared text and the salted password log in as well as the password: wiped.
    let prepared = Zeroizing::new(scram_password(password).into_owned());
    let mut salted = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(prepared.as_bytes(), salt, iterations, &mut *salted);
    let stored = Sha256::digest(hmac(&*salted, b"Client Key")).to_vec();
    let server = hmac(&*salted, b"Server Key");
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

/// md5 hashes the raw bytes: PostgreSQL applies no SASLprep there.
pub fn md5_verifier(password: &str, role: &str) -> String {
    let mut h = Md5::new();
    h.update(password.as_bytes());
    h.update(role.as_bytes());
    format!("md5{}", hex::encode(h.finalize()))
}

/// The hash to store for `role`, or None when it must be sent as plain text (no random
/// salt could be had).
pub fn verifier_for(version: PgVersion, role: &str, password: &str) -> Option<String> {
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

    #[test]
    fn saslprep_maps_and_normalises_as_postgres_does() {
        // No-break space to space, the ligature to "fi" (NFKC); ß and Cyrillic stay.
        assert_eq!(scram_password("Пароль-\u{fb01}\u{a0}ß"), "Пароль-fi ß");
        assert_eq!(scram_password("Å\u{200b}x"), "Å x");
        assert_eq!(scram_password("\u{5d0}\u{fb2a}"), "\u{5d0}\u{5e9}\u{5c1}");
        // Refused by pg_saslprep, so hashed as typed.
        for raw in ["a\u{340}b", "\u{ad}", "ab\u{e000}", "\u{5d0}x", "\u{221}é"] {
            assert_eq!(scram_password(raw), raw, "{raw:?}");
        }
        assert!(matches!(
            scram_password("it's\ta"),
            Cow::Borrowed("it's\ta")
        ));
    }

    #[test]
    fn saslprep_agrees_with_the_stringprep_crate_where_postgres_does() {
        for p in [
            "密码",
            "Пароль-\u{fb01}\u{a0}ß",
            "Ⅻ\u{3000}ｆｕｌｌ",
            "e\u{301}",
            "\u{5d0}\u{5d1}",
        ] {
            let theirs = stringprep::saslprep(p).expect("valid SASLprep input");
            assert_eq!(scram_password(p), theirs, "{p:?}");
        }
    }

    /// Each verifier was set as a role's password on PostgreSQL 15, which then let `psql`
    /// log in with the raw password (PGPASSWORD, scram-sha-256 in pg_hba.conf); the server's
    /// own hash of the plain text agreed too. `stringprep::saslprep` with the fallback gets
    /// the last three wrong, and PostgreSQL refused those logins.
    #[test]
    fn scram_verifiers_postgres_accepted() {
        let cases = [
            ("Пароль-\u{fb01}\u{a0}ß", "pgrepl-salt-0000", "frdGHShQRTIbjVA72wyfk4vrEVEbj9bOjFo+XgN9Kgw=:p2cHUscIZzi6B+XUp8FQYBFnbTVFpyb0reeuI3yDbzg="),
            ("Å\u{200b}x", "pgrepl-salt-0005", "ylqBMuGEqqWBzCAP+uSuUFMiXPbjCGnBa7X6Sngsb4c=:MzCED+JpVA1vMICTRg6Kpl4wi6nK2Pa32seyNBuKRwk="),
            ("a\u{340}b", "pgrepl-salt-0001", "88KLwVIFrYBVLw+/01Nrrtbl/RXAQ8A/0HCisChvDyw=:ryj5c8EPfLVRucTjoYk1XDRRQQiByqQE1IhGiGFZz+U="),
            ("\u{5d0}\u{fb2a}", "pgrepl-salt-0002", "UExbM69nJx1HkJNdHFjAPofosiwmkW+JsRJGaTDoDMs=:wRYzopLYuxSy52o+DpbSwJWBmrIbPhV8WLm3pfWf2fs="),
            ("\u{ad}", "pgrepl-salt-0003", "DXLMaCGr1VyDVpF7DqmyDZ76iI4wjiop+tyrAEZz868=:a6ivjOjOVYx99A6bMkQ0rFySL/Ui+h8q7EXuFrwNX6g="),
        ];
        for (password, salt, keys) in cases {
            let v = scram_verifier(password, salt.as_bytes());
            assert_eq!(v, format!("SCRAM-SHA-256$4096:{}${keys}", B64.encode(salt)));
            assert!(matches(&v, "replica", password));
        }
    }

    #[test]
    fn md5_of_non_ascii_hashes_the_raw_bytes() {
        // PostgreSQL 15 let role m0 log in with this hash (md5 in pg_hba.conf).
        assert_eq!(
            md5_verifier("Пароль-\u{fb01}\u{a0}ß", "m0"),
            "md5f58878cecbde368c4c7226eb6a98ae79"
        );
    }
}
