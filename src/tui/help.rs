//! The `?` overlay: every key, what it does, and where the journal and transcript are.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::Frame;

use super::app::App;
use crate::tr;

const KEYS: [(&str, &str); 15] = [
    ("Enter", "enter"),
    ("A", "run_all"),
    ("p", "pause"),
    ("r", "retry"),
    ("u", "rollback"),
    ("x", "abort"),
    ("Tab", "tab"),
    ("↑/↓", "select"),
    ("PgUp/PgDn", "scroll"),
    ("End", "follow"),
    ("v", "card"),
    ("e", "edit"),
    ("y / n", "confirm"),
    ("?", "help"),
    ("q", "quit"),
];

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let mut lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, name)| {
            Line::from(vec![
                Span::styled(format!("{key:>10}  "), t.key()),
                Span::raw(tr!(&format!("tui.help.{name}"))),
            ])
        })
        .collect();
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(tr!("tui.help.form"), t.dim())));
    lines.push(Line::from(Span::styled(
        tr!("tui.help.files", dir = app.state_dir.display()),
        t.dim(),
    )));
    super::dialog::popup(f, area, app, &tr!("tui.help.title"), lines, 76);
}
