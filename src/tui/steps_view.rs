//! The left column: the six steps with their states, and below them what the selected
//! step does, how it went, and (for verify) the verification card.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::card;
use super::theme::state_symbol;
use crate::engine::StepId;
use crate::tr;

pub const WIDTH: u16 = 36;

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let list_h = StepId::ALL.len() as u16 + 2;
    let [list, details] = area.layout(&Layout::vertical([
        Constraint::Length(list_h),
        Constraint::Min(0),
    ]));
    render_list(f, list, app);
    render_details(f, details, app);
}

fn render_list(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let block = Block::bordered()
        .title(Span::styled(
            format!(" {} ", tr!("tui.steps.title")),
            t.title(),
        ))
        .border_style(t.border());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let rows: Vec<Line> = StepId::ALL
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let state = app.shown_state(*id);
            let sym = state_symbol(state, app.tick / 3);
            let marker = if i == app.selected { "›" } else { " " };
            let line = Line::from(vec![
                Span::raw(format!("{marker}{sym} {}. ", i + 1)),
                Span::raw(format!("{:<13}", id.name())),
                Span::styled(tr!(state.key()), t.state(state)),
            ]);
            if i == app.selected {
                line.style(t.selected())
            } else {
                line
            }
        })
        .collect();
    f.render_widget(Paragraph::new(rows), inner);
}

fn render_details(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let id = app.selected_step();
    let v = &app.steps[id.index()];
    let block = Block::bordered()
        .title(Span::styled(
            format!(" {}/{} {} ", id.index() + 1, StepId::ALL.len(), id),
            t.title(),
        ))
        .border_style(t.border());
    let mut inner = block.inner(area);
    f.render_widget(block, area);
    if id == StepId::Verify {
        if let Some(r) = app.card() {
            let h = card::HEIGHT.min(inner.height);
            card::render(f, Rect { height: h, ..inner }, r, t);
            inner.y += h;
            inner.height -= h;
        }
    }
    let state = app.shown_state(id);
    let mut head = vec![Span::styled(
        format!("{} {}", state_symbol(state, app.tick / 3), tr!(state.key())),
        t.state(state),
    )];
    if v.elapsed_ms > 0 && state.is_complete() {
        head.push(Span::styled(
            format!(" · {:.2}s", v.elapsed_ms as f64 / 1000.0),
            t.dim(),
        ));
    }
    let mut lines = vec![Line::from(head)];
    if let Some((error, hint)) = &v.error {
        for l in error.lines() {
            lines.push(Line::from(Span::styled(l.to_string(), t.error())));
        }
        if let Some(h) = hint {
            lines.push(Line::from(Span::styled(
                tr!("report.hint", hint = h),
                t.warning(),
            )));
        }
    } else {
        lines.push(Line::from(describe(id)));
    }
    for n in v.notes.iter().rev().take(8).rev() {
        lines.push(Line::from(Span::styled(format!("» {n}"), t.note())));
    }
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

/// The step's "what", from the same catalog the engine's `describe` reads.
fn describe(id: StepId) -> String {
    tr!(&format!("step.{}.what", id.name().replace('-', "_")))
}
