//! pgrepl's edits to config files are one marked block per file, so a re-run replaces the
//! block instead of adding lines, and a reader can see what pgrepl wrote.

pub fn begin(tag: &str) -> String {
    format!("# BEGIN {tag} (managed by pgrepl; `pgrepl rollback` restores the original file)")
}

pub fn end(tag: &str) -> String {
    format!("# END {tag}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// pg_hba.conf: first match wins, so our entries go first.
    Top,
    /// postgresql.conf: the last setting wins, so our values go last.
    Bottom,
}

/// The block with `tag` as it is in `text`, if any.
pub fn find(text: &str, tag: &str) -> Option<String> {
    let (b, e) = (begin(tag), end(tag));
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == b {
            inside = true;
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
        if inside && line == e {
            return Some(out);
        }
    }
    None
}

/// Renders the block with `tag` around `body` lines.
pub fn render(tag: &str, body: &[String]) -> String {
    let mut s = begin(tag);
    s.push('\n');
    for l in body {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str(&end(tag));
    s.push('\n');
    s
}

/// `text` with any old block of this tag removed and `block` put at `place`. A begin line
/// without its end line is refused: removing "the block" would remove the rest of the file.
pub fn put(text: &str, tag: &str, block: &str, place: Place) -> Result<String, String> {
    let (b, e) = (begin(tag), end(tag));
    if let Some(at) = text.lines().position(|l| l == b) {
        if !text.lines().skip(at).any(|l| l == e) {
            return Err(crate::tr!("error.block_unclosed", begin = b, end = e));
        }
    }
    Ok(put_checked(text, tag, block, place))
}

fn put_checked(text: &str, tag: &str, block: &str, place: Place) -> String {
    let (b, e) = (begin(tag), end(tag));
    let mut kept = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line == b {
            inside = true;
            continue;
        }
        if inside {
            if line == e {
                inside = false;
            }
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    match place {
        Place::Top => format!("{block}{kept}"),
        Place::Bottom => {
            let mut s = kept;
            if !s.is_empty() && !s.ends_with("\n\n") {
                s.push('\n');
            }
            s.push_str(block);
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn putting_twice_changes_nothing() {
        let orig = "local all postgres peer\nhost all all 127.0.0.1/32 scram-sha-256\n";
        let block = render(
            "pgrepl",
            &["host replication replica 10.0.0.0/24 md5".into()],
        );
        let once = put(orig, "pgrepl", &block, Place::Top).unwrap();
        let twice = put(&once, "pgrepl", &block, Place::Top).unwrap();
        assert_eq!(once, twice);
        assert!(once.starts_with("# BEGIN pgrepl"));
        assert_eq!(find(&once, "pgrepl").unwrap(), block);
        assert!(find(orig, "pgrepl").is_none());
    }

    #[test]
    fn a_changed_block_replaces_the_old_one() {
        let orig = "port = 5432\n";
        let a = put(
            orig,
            "pgrepl",
            &render("pgrepl", &["wal_level = replica".into()]),
            Place::Bottom,
        )
        .unwrap();
        let b = put(
            &a,
            "pgrepl",
            &render("pgrepl", &["wal_level = logical".into()]),
            Place::Bottom,
        )
        .unwrap();
        assert_eq!(b.matches("# BEGIN pgrepl").count(), 1);
        assert!(b.contains("logical") && !b.contains("= replica"));
        assert!(b.starts_with("port = 5432\n"));
    }

    #[test]
    fn an_unclosed_block_is_refused_not_truncated() {
        let text = format!(
            "{}\nlocal all all peer\nhost all all 0.0.0.0/0 reject\n",
            begin("pgrepl")
        );
        assert!(put(&text, "pgrepl", &render("pgrepl", &[]), Place::Top).is_err());
    }

    #[test]
    fn tags_do_not_collide() {
        let a = put(
            "",
            "pgrepl",
            &render("pgrepl", &["a".into()]),
            Place::Bottom,
        )
        .unwrap();
        let b = put(
            &a,
            "pgrepl standby",
            &render("pgrepl standby", &["b".into()]),
            Place::Bottom,
        )
        .unwrap();
        assert!(find(&b, "pgrepl").is_some() && find(&b, "pgrepl standby").is_some());
    }
}
