//! One quoting function per target language. Everything that reaches a shell, SQL or a
//! PostgreSQL config file from user input goes through exactly one of these.

/// Quotes `s` as one POSIX shell word. Single quotes make every byte literal, so `$(...)`,
/// backticks, `;` and newlines lose their meaning; an embedded `'` becomes `'\''`.
pub fn sh(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@%+,".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes an SQL identifier (role name, ...): always double-quoted, `"` doubled.
pub fn sql_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Quotes an SQL string literal. With `standard_conforming_strings` (on since 9.1) only `'`
/// is special; the `E` form is avoided on purpose.
pub fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Quotes a value for postgresql.conf / recovery.conf: single quotes, `'` doubled and `\`
/// escaped, as the server's config lexer reads them.
pub fn conf_value(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Quotes one value inside a libpq connection string (`key='value'`).
pub fn conninfo_value(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// Escapes one field of a `.pgpass` line: `:` and `\` are backslash-escaped.
pub fn pgpass_field(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_words_survive_hostile_input() {
        assert_eq!(sh("plain-word_1.2/x"), "plain-word_1.2/x");
        assert_eq!(sh(""), "''");
        assert_eq!(sh("a b"), "'a b'");
        assert_eq!(sh("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(sh("it's"), r"'it'\''s'");
        assert_eq!(sh("`id`;\n"), "'`id`;\n'");
    }

    #[test]
    fn shell_quoting_round_trips_through_sh() {
        for s in [
            "it's",
            "$(id)",
            "a\"b",
            "x\ny",
            "back\\slash",
            "*",
            "~root",
            "-n",
        ] {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("printf %s {}", sh(s)))
                .output()
                .expect("sh runs");
            assert_eq!(String::from_utf8_lossy(&out.stdout), s, "for {s:?}");
        }
    }

    #[test]
    fn sql_quoting_doubles_quotes() {
        assert_eq!(sql_ident("replica"), "\"replica\"");
        assert_eq!(sql_ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(sql_literal("pa'ss"), "'pa''ss'");
        assert_eq!(sql_literal("$$; drop"), "'$$; drop'");
    }

    #[test]
    fn config_and_conninfo_quoting() {
        assert_eq!(conf_value("*"), "'*'");
        assert_eq!(conf_value(r"a'b\c"), r"'a''b\\c'");
        assert_eq!(conninfo_value("it's"), r"'it\'s'");
        assert_eq!(pgpass_field(r"p:w\d"), r"p\:w\\d");
    }
}
