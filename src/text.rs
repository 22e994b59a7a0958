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

/// `zh` when `PGREPL_LANG` (or else `LANG`/`LC_ALL`) starts with `zh`, English otherwise.
pub fn language() -> &'static str {
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

    #[test]
    fn placeholders_are_filled() {
        let s = t(
            "error.config_field",
            &[("field", &"primary.port"), ("problem", &"x")],
        );
        assert!(s.contains("primary.port"), "{s}");
    }
}
