//! Every sentence a user reads comes from `assets/i18n/<lang>.toml`, so the tutorial's
//! Chinese- and English-speaking readers get the same tool. Code names a key, never prose.

use std::collections::HashMap;
use std::sync::OnceLock;

const EN: &str = include_str!("../assets/i18n/en.toml");
const ZH: &str = include_str!("../assets/i18n/zh.toml");

struct Catalog {
    chosen: HashMap<String, String>,
    english: HashMap<String, String>,
}

fn parse(src: &str) -> HashMap<String, String> {
    // The catalogs are compiled in and checked by a unit test, so a parse failure is a bug.
    let table: toml::Table = toml::from_str(src).expect("assets/i18n catalog is valid TOML");
    let mut out = HashMap::new();
    flatten("", &table, &mut out);
    out
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::String(s) => {
                out.insert(key, s.clone());
            }
            toml::Value::Table(t) => flatten(&key, t, out),
            _ => {}
        }
    }
}

/// `zh` when `PGREPL_LANG` (or else `LC_ALL`/`LANG`) starts with `zh`, English otherwise.
pub fn language_from_env() -> &'static str {
    let pick = std::env::var("PGREPL_LANG")
        .or_else(|_| std::env::var("LC_ALL"))
        .or_else(|_| std::env::var("LANG"))
        .unwrap_or_default();
    if pick.starts_with("zh") {
        "zh"
    } else {
        "en"
    }
}

static LANGUAGE: OnceLock<&'static str> = OnceLock::new();

/// Chooses the catalog once, before the first sentence is built; the binary calls it with
/// [`language_from_env`]. A library user (and every unit test) that never calls it gets
/// English, whatever the machine's locale: snapshots and parsed output must not depend on
/// the environment the tests happen to run in.
pub fn set_language(lang: &'static str) {
    let _ = LANGUAGE.set(if lang == "zh" { "zh" } else { "en" });
}

pub fn language() -> &'static str {
    LANGUAGE.get().copied().unwrap_or("en")
}

fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let english = parse(EN);
        let chosen = if language() == "zh" {
            parse(ZH)
        } else {
            HashMap::new()
        };
        Catalog { chosen, english }
    })
}

/// The sentence for `key` with `{name}` placeholders filled in.
pub fn t(key: &str, args: &[(&str, &dyn std::fmt::Display)]) -> String {
    let cat = catalog();
    let mut s = cat
        .chosen
        .get(key)
        .or_else(|| cat.english.get(key))
        .cloned()
        .unwrap_or_else(|| key.to_string());
    for (name, value) in args {
        s = s.replace(&format!("{{{name}}}"), &value.to_string());
    }
    s
}

/// `tr!("key")` or `tr!("key", name = value, ...)`.
#[macro_export]
macro_rules! tr {
    ($key:expr) => { $crate::text::t($key, &[]) };
    ($key:expr, $($name:ident = $value:expr),+ $(,)?) => {
        $crate::text::t($key, &[$((stringify!($name), &$value as &dyn std::fmt::Display)),+])
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_catalogs_have_the_same_keys_and_placeholders() {
        let en = parse(EN);
        let zh = parse(ZH);
        let mut missing: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        missing.extend(zh.keys().filter(|k| !en.contains_key(*k)));
        missing.sort();
        assert!(missing.is_empty(), "keys in one catalog only: {missing:?}");
        let holes = |s: &str| {
            let mut v: Vec<String> = s
                .split('{')
                .skip(1)
                .filter_map(|p| p.split_once('}').map(|(n, _)| n.to_string()))
                .collect();
            v.sort();
            v
        };
        for (k, e) in &en {
            assert_eq!(holes(e), holes(&zh[k]), "placeholders differ for {k}");
        }
    }

    /// Every key the code names (a string literal under one of the catalog's sections,
    /// plus the keys built from step, state and role names) is in both catalogs: a missing
    /// one shows the raw key to the user.
    #[test]
    fn every_key_the_code_uses_exists_in_both_catalogs() {
        let en = parse(EN);
        let zh = parse(ZH);
        let sections: std::collections::BTreeSet<String> = en
            .keys()
            .map(|k| k.split('.').next().unwrap_or_default().to_string())
            .collect();
        let mut used = vec![];
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut dirs = vec![src];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let code = std::fs::read_to_string(&path).unwrap();
                    for key in key_literals(&code, &sections) {
                        used.push((path.display().to_string(), key));
                    }
                }
            }
        }
        assert!(
            used.len() > 100,
            "the scan found too few keys: {}",
            used.len()
        );
        for id in crate::engine::StepId::ALL {
            let k = id.name().replace('-', "_");
            used.push(("StepId".into(), format!("step.{k}.what")));
            used.push(("StepId".into(), format!("step.{k}.why")));
        }
        for r in crate::engine::Role::all(1) {
            used.push(("Role".into(), format!("tui.pane.{}", r.kind())));
        }
        let missing: Vec<_> = used
            .iter()
            .filter(|(_, k)| !en.contains_key(k) || !zh.contains_key(k))
            .collect();
        assert!(
            missing.is_empty(),
            "keys used in code but missing: {missing:?}"
        );
    }

    /// String literals that look like `section.name[.more]` for a known section. A small
    /// lexer: comments, char literals and raw strings are skipped whole, escapes honoured.
    fn key_literals(code: &str, sections: &std::collections::BTreeSet<String>) -> Vec<String> {
        let b = code.as_bytes();
        let (mut i, mut out) = (0, vec![]);
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    while i < b.len() && b[i] != b'\n' {
                        i += 1;
                    }
                }
                b'\'' if b.get(i + 2) == Some(&b'\'') => i += 3,
                b'\'' if b.get(i + 1) == Some(&b'\\') => {
                    i += 2;
                    while i < b.len() && b[i] != b'\'' {
                        i += 1;
                    }
                    i += 1;
                }
                b'r' if b.get(i + 1) == Some(&b'#') => {
                    let end = code[i..].find("\"#").map(|e| i + e + 2);
                    i = end.unwrap_or(b.len());
                }
                b'"' => {
                    let start = i + 1;
                    i = start;
                    while i < b.len() && b[i] != b'"' {
                        i += if b[i] == b'\\' { 2 } else { 1 };
                    }
                    let lit = &code[start..i.min(b.len())];
                    i += 1;
                    let looks_like_key = lit.contains('.')
                        && lit.split('.').all(|p| !p.is_empty())
                        && lit.chars().all(|c| {
                            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.'
                        });
                    if looks_like_key && sections.contains(lit.split('.').next().unwrap_or("")) {
                        out.push(lit.to_string());
                    }
                }
                _ => i += 1,
            }
        }
        out
    }

    #[test]
    fn the_language_is_english_unless_chosen() {
        // Unit tests never call set_language: their output is English under any locale.
        assert_eq!(language(), "en");
    }

    #[test]
    fn placeholders_are_filled() {
        let s = t(
            "error.config_field",
            &[("field", &"primary.port"), ("problem", &"x")],
        );
        assert!(s.contains("primary.port"), "{s}");
    }
}
