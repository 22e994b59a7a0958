//! The verification card: pass or fail at a glance, then each check on its own line.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use crate::engine::VerifyReport;
use crate::tr;

/// Rows the card needs, borders included.
pub const HEIGHT: u16 = 9;
/// Columns the card needs as a popup.
pub const WIDTH: u16 = 48;

fn row<'a>(label: String, width: usize, ok: bool, value: String, t: &Theme) -> Line<'a> {
    let (sym, style) = if ok {
        ("✓", t.ok())
    } else {
        ("✗", t.error())
    };
    let pad = width.saturating_sub(Span::raw(label.as_str()).width()) + 1;
    Line::from(vec![
        Span::styled(format!("{sym} "), style),
        Span::raw(format!("{label}{}", " ".repeat(pad))),
        Span::styled(value, style),
    ])
}

/// `wide`: room to say on which host each process runs.
pub fn lines<'a>(r: &VerifyReport, t: &Theme, wide: bool) -> Vec<Line<'a>> {
    let yes_no = |b: bool, yes: &str, no: &str| {
        if b {
            tr!(&format!("tui.card.{yes}"))
        } else {
            tr!(&format!("tui.card.{no}"))
        }
    };
    let streaming = r.replication_state.as_deref() == Some("streaming");
    let labels = [
        "walsender",
        "walreceiver",
        "state",
        "recovery",
        "canary",
        "lag",
        "login",
    ]
    .map(|k| tr!(&format!("tui.card.{k}")));
    let width = labels
        .iter()
        .map(|l| Span::raw(l.as_str()).width())
        .max()
        .unwrap_or(0);
    let [walsender, walreceiver, state, recovery, canary, lag, login] = labels;
    vec![
        row(
            walsender,
            width,
            r.walsender,
            if wide {
                yes_no(r.walsender, "running_primary", "missing_primary")
            } else {
                yes_no(r.walsender, "running", "missing")
            },
            t,
        ),
        row(
            walreceiver,
            width,
            r.walreceiver,
            if wide {
                yes_no(r.walreceiver, "running_standby", "missing_standby")
            } else {
                yes_no(r.walreceiver, "running", "missing")
            },
            t,
        ),
        row(
            state,
            width,
            streaming,
            r.replication_state
                .clone()
                .unwrap_or_else(|| tr!("tui.card.none")),
            t,
        ),
        row(
            recovery,
            width,
            r.standby_in_recovery,
            yes_no(r.standby_in_recovery, "yes", "no"),
            t,
        ),
        row(
            canary,
            width,
            r.canary_ms.is_some(),
            r.canary_ms
                .map(|ms| format!("{ms} ms"))
                .unwrap_or_else(|| tr!("tui.card.not_seen")),
            t,
        ),
        row(
            lag,
            width,
            r.lag_bytes.is_some(),
            r.lag_bytes
                .map(|b| format!("{b} B"))
                .unwrap_or_else(|| tr!("tui.card.none")),
            t,
        ),
        row(
            login,
            width,
            r.stored_login != Some(false),
            match r.stored_login {
                Some(ok) => yes_no(ok, "yes", "no"),
                None => tr!("tui.card.not_ours"),
            },
            t,
        ),
    ]
}

pub fn render(f: &mut Frame, area: Rect, r: &VerifyReport, t: &Theme) {
    let (title, style) = if r.passed {
        (tr!("tui.card.passed"), t.ok())
    } else {
        (tr!("tui.card.failed"), t.error())
    };
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} · {} ", r.host), style))
        .border_style(style);
    f.render_widget(Clear, area);
    let wide = area.width >= WIDTH;
    f.render_widget(Paragraph::new(lines(r, t, wide)).block(block), area);
}
