//! One host's output pane: a bounded buffer of lines (the transcript keeps everything) and a
//! scroll position counted in lines from the tail; 0 follows the tail.

use std::collections::VecDeque;

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use crate::tr;

/// Lines kept per pane.
pub const PANE_LINES: usize = 5000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// First line of a command.
    Command,
    /// Its further lines (scripts, SQL on stdin).
    CommandMore,
    Out,
    Err,
    Exit(bool),
    Note,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaneLine {
    pub kind: Kind,
    pub text: String,
}

#[derive(Debug, Clone, Default)]
pub struct Pane {
    lines: VecDeque<PaneLine>,
    scroll: usize,
}

impl Pane {
    pub fn push(&mut self, kind: Kind, text: &str) {
        if self.lines.len() == PANE_LINES {
            self.lines.pop_front();
        }
        self.lines.push_back(PaneLine {
            kind,
            text: sanitize(text),
        });
        if self.scroll > 0 {
            // Stay on the lines the user scrolled to.
            self.scroll = (self.scroll + 1).min(self.lines.len().saturating_sub(1));
        }
    }

    pub fn command(&mut self, command: &str) {
        for (i, l) in command.lines().enumerate() {
            self.push(
                if i == 0 {
                    Kind::Command
                } else {
                    Kind::CommandMore
                },
                l,
            );
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn scroll(&self) -> usize {
        self.scroll
    }

    pub fn scroll_up(&mut self, n: usize) {
        self.scroll = (self.scroll + n).min(self.lines.len().saturating_sub(1));
    }

    pub fn scroll_down(&mut self, n: usize) {
        self.scroll = self.scroll.saturating_sub(n);
    }

    pub fn follow(&mut self) {
        self.scroll = 0;
    }

    pub fn lines(&self) -> impl DoubleEndedIterator<Item = &PaneLine> {
        self.lines.iter()
    }

    pub fn render(&self, f: &mut Frame, area: Rect, block: Block, theme: &Theme) {
        let block = if self.scroll > 0 {
            block.title_bottom(
                Line::from(format!(
                    " {} ",
                    tr!("tui.pane.scrolled", lines = self.scroll)
                ))
                .style(theme.warning()),
            )
        } else {
            block
        };
        let inner = block.inner(area);
        f.render_widget(block, area);
        let (w, h) = (inner.width as usize, inner.height as usize);
        if w == 0 || h == 0 {
            return;
        }
        // Fill the view from the bottom up, wrapping only the lines that show.
        let mut rows: Vec<Line> = Vec::with_capacity(h);
        'fill: for l in self.lines.iter().rev().skip(self.scroll) {
            let (prefix, style) = match l.kind {
                Kind::Command => ("$ ", theme.command()),
                Kind::CommandMore => ("> ", theme.command()),
                Kind::Out => ("", theme.text()),
                Kind::Err => ("! ", theme.stderr()),
                Kind::Exit(true) => ("✓ ", theme.ok()),
                Kind::Exit(false) => ("✗ ", theme.error()),
                Kind::Note => ("» ", theme.note()),
            };
            let full = format!("{prefix}{}", l.text);
            for p in wrap_indented(&full, w, prefix.chars().count())
                .into_iter()
                .rev()
            {
                rows.push(Line::from(Span::styled(p, style)));
                if rows.len() == h {
                    break 'fill;
                }
            }
        }
        rows.reverse();
        let top = h - rows.len();
        let body = Rect {
            y: inner.y + top as u16,
            height: rows.len() as u16,
            ..inner
        };
        f.render_widget(Paragraph::new(rows), body);
    }
}

/// Display width of one character.
pub fn char_width(c: char) -> usize {
    let mut buf = [0u8; 4];
    Span::raw(&*c.encode_utf8(&mut buf)).width()
}

/// Splits `s` into pieces at most `width` columns wide (at least one piece).
pub fn wrap(s: &str, width: usize) -> Vec<&str> {
    let width = width.max(1);
    let mut out = vec![];
    let mut start = 0;
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let cw = char_width(c);
        if used + cw > width && i > start {
            out.push(&s[start..i]);
            start = i;
            used = 0;
        }
        used += cw;
    }
    out.push(&s[start..]);
    out
}

/// Like [`wrap`], but rows after the first start with `indent` spaces, so a wrapped
/// command or message reads as one block.
pub fn wrap_indented(s: &str, width: usize, indent: usize) -> Vec<String> {
    let width = width.max(1);
    let indent = if width > indent + 8 { indent } else { 0 };
    let first_end = wrap(s, width).first().map(|p| p.len()).unwrap_or(0);
    let mut out = vec![s[..first_end].to_string()];
    let rest = &s[first_end..];
    if !rest.is_empty() {
        let pad = " ".repeat(indent);
        out.extend(
            wrap(rest, width - indent)
                .into_iter()
                .map(|p| format!("{pad}{p}")),
        );
    }
    out
}

/// Remote output may carry tabs, carriage returns and colour codes: keep the text only.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\t' => out.push_str("    "),
            '\x1b' => {
                // CSI: ESC [ params final-byte; other escapes: drop the next char.
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for d in chars.by_ref() {
                        if ('@'..='~').contains(&d) {
                            break;
                        }
                    }
                } else {
                    chars.next();
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_bounded_tail() {
        let mut p = Pane::default();
        for i in 0..PANE_LINES + 10 {
            p.push(Kind::Out, &i.to_string());
        }
        assert_eq!(p.len(), PANE_LINES);
        assert_eq!(p.lines().next().map(|l| l.text.as_str()), Some("10"));
    }

    #[test]
    fn scrolled_up_stays_put() {
        let mut p = Pane::default();
        for i in 0..10 {
            p.push(Kind::Out, &i.to_string());
        }
        p.scroll_up(3);
        p.push(Kind::Out, "new");
        assert_eq!(p.scroll(), 4);
        p.follow();
        p.push(Kind::Out, "newer");
        assert_eq!(p.scroll(), 0);
    }

    #[test]
    fn wraps_and_cleans() {
        assert_eq!(wrap("abcdef", 4), vec!["abcd", "ef"]);
        assert_eq!(wrap("", 4), vec![""]);
        assert_eq!(wrap("中文字", 4), vec!["中文", "字"]);
        assert_eq!(
            wrap_indented("$ abcdefghijklmn", 12, 2),
            vec!["$ abcdefghij", "  klmn"]
        );
        assert_eq!(wrap_indented("short", 10, 2), vec!["short"]);
        assert_eq!(sanitize("\x1b[31mred\x1b[0m\tx\r"), "red    x");
    }
}
