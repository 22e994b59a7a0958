//! The two bottom lines: what is happening (or the last message), and the keys that apply
//! right now.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::app::{App, Busy, Level, Modal, Screen};
use super::form::Field;
use super::theme::state_symbol;
use crate::engine::StepState;
use crate::tr;

/// Rows at the bottom: the form shows its messages in place, so only keys there.
pub fn height(app: &App) -> u16 {
    match app.screen {
        Screen::Form => 1,
        Screen::Steps => 2,
    }
}

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let [top, keys] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(1),
    ]));
    if top.height > 0 {
        f.render_widget(Paragraph::new(activity(app)), top);
    }
    f.render_widget(Paragraph::new(key_line(app, keys.width as usize)), keys);
}

fn activity(app: &App) -> Line<'static> {
    let t = &app.theme;
    if let Some((level, text)) = &app.message {
        let style = match level {
            Level::Info => t.text(),
            Level::Warn => t.warning(),
            Level::Error => t.error(),
        };
        return Line::from(Span::styled(format!(" {text}"), style));
    }
    let spin = state_symbol(StepState::Running, app.tick / 3);
    let text = match app.busy {
        None if app.screen == Screen::Steps && app.modal.is_none() && !app.help => {
            return Line::from(Span::styled(
                format!(" {}", tr!("tui.status.idle")),
                t.dim(),
            ))
        }
        None => return Line::default(),
        Some(Busy::Starting) => tr!("tui.status.starting"),
        Some(Busy::Preparing(id)) => tr!("tui.status.preparing", step = id),
        Some(Busy::Applying) => tr!("tui.status.applying"),
        Some(Busy::Running(id)) if app.paused => tr!("tui.status.paused", step = id),
        Some(Busy::Running(id)) => tr!("tui.status.running", step = id),
        Some(Busy::RollingBack(id)) => tr!("tui.status.rolling_back", step = id),
    };
    let style = if app.paused { t.warning() } else { t.text() };
    Line::from(vec![
        Span::styled(format!(" {spin} "), t.state(StepState::Running)),
        Span::styled(text, style),
    ])
}

/// One key hint: the key, what it does, and how soon it gives way when the line is short
/// (0 never).
pub struct Hint {
    pub key: &'static str,
    pub what: String,
    pub drop: u8,
}

fn hint(key: &'static str, name: &str, drop: u8) -> Hint {
    Hint {
        key,
        what: tr!(&format!("tui.keys.{name}")),
        drop,
    }
}

/// The keys that apply right now, in the order shown.
pub fn keys(app: &App) -> Vec<Hint> {
    let k = hint;
    if app.help {
        return vec![k("Esc", "close", 0)];
    }
    if let Some(m) = &app.modal {
        return match m {
            Modal::Preview { .. } => vec![
                k("y", "run", 0),
                if app.run_all {
                    k("n", "stop", 0)
                } else {
                    k("n", "back", 0)
                },
                k("↑↓ PgUp/PgDn", "scroll", 1),
                k("?", "help", 2),
            ],
            Modal::Confirm { .. } => vec![k("y", "yes", 0), k("n", "no", 0)],
            Modal::Cidr { .. } => vec![
                k("↑↓", "choose", 0),
                k("Enter", "use", 0),
                k("Esc", "keep", 0),
            ],
            Modal::Card => vec![k("Enter", "close", 0), k("q", "quit", 0)],
            Modal::Error(_) => vec![k("Enter", "close", 0)],
            Modal::SshPassword { .. } => vec![k("Enter", "use", 0), k("Esc", "back", 0)],
        };
    }
    match app.screen {
        Screen::Form => {
            let on_button = app.form.focus == Field::Continue;
            let mut v = vec![];
            if on_button {
                v.push(k("Enter", "continue", 0));
                v.push(k("A", "run_all", 0));
            } else {
                v.push(k("Tab/↑↓", "field", 1));
                v.push(k("Enter", "next", 2));
            }
            if app.form.focus == Field::Cidr && !app.form.suggestions.is_empty() {
                v.push(k("F2…", "suggest", 0));
            }
            v.push(k("Ctrl+S", "save", 3));
            if on_button {
                v.push(k("?", "help", 1));
                v.push(k("q", "quit", 0));
            } else {
                v.push(k("F1", "help", 1));
            }
            if app.setup.is_some() {
                v.push(k("Esc", "back", 0));
            } else if !on_button {
                v.push(k("Esc", "quit", 0));
            }
            v
        }
        Screen::Steps => {
            if app.running_step().is_some() {
                return vec![
                    k("p", if app.paused { "resume" } else { "pause" }, 0),
                    k("x", "abort", 0),
                    k("Tab", "pane", 2),
                    k("PgUp/PgDn", "scroll", 3),
                    k("?", "help", 1),
                    k("q", "quit", 0),
                ];
            }
            let sel = app.selected_step();
            let state = app.steps[sel.index()].state;
            let mut v = vec![
                k("↑↓", "select", 4),
                k("Enter", "run", 0),
                k("A", "run_all", 0),
            ];
            if matches!(state, StepState::Failed | StepState::Interrupted) {
                v.push(k("r", "retry", 0));
            }
            if sel != crate::engine::StepId::Hosts
                && !matches!(state, StepState::Pending | StepState::RolledBack)
            {
                v.push(k("u", "rollback", 1));
            }
            if !app.verify.is_empty() {
                v.push(k("v", "card", 2));
            }
            v.push(k("e", "edit", 3));
            v.push(k("?", "help", 1));
            v.push(k("q", "quit", 0));
            v
        }
    }
}

fn width(hints: &[Hint]) -> usize {
    hints
        .iter()
        .map(|h| Span::raw(h.key).width() + 1 + Span::raw(h.what.as_str()).width() + 2)
        .sum::<usize>()
        + 1
}

fn key_line(app: &App, max: usize) -> Line<'static> {
    let t = &app.theme;
    let mut hints = keys(app);
    // Drop the least needed hints until the line fits.
    while width(&hints) > max {
        let Some(worst) = hints
            .iter()
            .enumerate()
            .filter(|(_, h)| h.drop > 0)
            .max_by_key(|(i, h)| (h.drop, *i))
            .map(|(i, _)| i)
        else {
            break;
        };
        hints.remove(worst);
    }
    let mut spans = vec![Span::raw(" ")];
    for (i, h) in hints.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled("  ", t.dim()));
        }
        spans.push(Span::styled(h.key, t.key()));
        spans.push(Span::raw(format!(" {}", h.what)));
    }
    Line::from(spans)
}
