//! The output panes: primary and standby side by side when there is room, one at a time
//! (Tab switches) when there is not; the base backup's progress as a gauge below.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge};
use ratatui::Frame;

use super::app::App;
use super::ui::SIDE_BY_SIDE;
use crate::engine::{Role, StepId, StepState};
use crate::tr;

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let show_gauge = app.progress.is_some()
        && matches!(
            app.steps[StepId::BaseBackup.index()].state,
            StepState::Running | StepState::Done | StepState::Failed
        );
    let [panes, gauge] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(if show_gauge { 1 } else { 0 }),
    ]));
    if area.width >= SIDE_BY_SIDE {
        let [l, r] = panes.layout(&Layout::horizontal([
            Constraint::Percentage(50),
            Constraint::Percentage(50),
        ]));
        for (role, rect) in [(Role::Primary, l), (Role::Standby, r)] {
            let marker = if role == app.focus { "›" } else { " " };
            let text = format!("{marker}{} ", title(app, role));
            let block = block(app, role, Line::from(text));
            app.panes[role.index()].render(f, rect, block, &app.theme);
        }
    } else {
        // Tabs: the focused pane's title is highlighted, the other one is dim.
        let t = &app.theme;
        let mut spans = vec![];
        for role in Role::BOTH {
            let (style, marker) = if role == app.focus {
                (t.focus_border(), "›")
            } else {
                (t.dim(), " ")
            };
            spans.push(Span::styled(
                format!("{marker}{} ", title(app, role)),
                style,
            ));
        }
        spans.push(Span::styled(
            format!(" {} ", tr!("tui.pane.tab_hint")),
            t.dim(),
        ));
        let block = block(app, app.focus, Line::from(spans));
        app.panes[app.focus.index()].render(f, panes, block, t);
    }
    if let Some((done, total)) = app.progress.filter(|_| show_gauge) {
        let ratio = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        };
        let label = tr!(
            "tui.pane.progress",
            done = format!("{:.1}", done as f64 / 1024.0),
            total = format!("{:.1}", total as f64 / 1024.0),
            percent = (ratio * 100.0).floor() as u32
        );
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .label(label)
                .gauge_style(app.theme.ok())
                .use_unicode(true),
            gauge,
        );
    }
}

fn title(app: &App, role: Role) -> String {
    let who = app.setup.as_ref().map(|s| match role {
        Role::Primary => s.primary.host.clone(),
        Role::Standby => s.standby.host.clone(),
    });
    let name = tr!(&format!("tui.pane.{}", role.name()));
    match who {
        Some(h) => format!("{name} · {h}"),
        None => name,
    }
}

fn block<'a>(app: &App, role: Role, title: Line<'a>) -> Block<'a> {
    let t = &app.theme;
    let style = if role == app.focus {
        t.focus_border()
    } else {
        t.border()
    };
    Block::bordered().title(title).border_style(style)
}
