//! The output panes: the primary on the left and the standbys stacked on the right when
//! there is room, one at a time (Tab switches) when there is not; each base backup's
//! progress as a gauge below.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Gauge};
use ratatui::Frame;

use super::app::App;
use super::ui::SIDE_BY_SIDE;
use crate::engine::{Role, StepId, StepState};
use crate::tr;

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let show_gauge = !app.progress.is_empty()
        && matches!(
            app.steps[StepId::BaseBackup.index()].state,
            StepState::Running | StepState::Done | StepState::Failed
        );
    let gauges = if show_gauge { app.progress.len() } else { 0 };
    let [panes, gauge_area] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(gauges as u16),
    ]));
    let roles: Vec<Role> = (0..app.panes.len()).map(Role::at).collect();
    if area.width >= SIDE_BY_SIDE {
        let [l, r] = panes.layout(&Layout::horizontal([
            Constraint::Percentage(50),
            Constraint::Percentage(50),
        ]));
        let standbys = &roles[1.min(roles.len())..];
        let right = Layout::vertical(vec![Constraint::Fill(1); standbys.len().max(1)]).split(r);
        let rects = std::iter::once(l).chain(right.iter().copied());
        for (&role, rect) in roles.iter().zip(rects) {
            let marker = if role == app.focus { "›" } else { " " };
            let text = format!("{marker}{} ", title(app, role));
            let block = block(app, role, Line::from(text));
            app.panes[role.index()].render(f, rect, block, &app.theme);
        }
    } else {
        // Tabs: the focused pane's title is highlighted, the others are dim.
        let t = &app.theme;
        let mut spans = vec![];
        for &role in &roles {
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
        if let Some(p) = app.panes.get(app.focus.index()) {
            p.render(f, panes, block, t);
        }
    }
    if !show_gauge {
        return;
    }
    let rows = Layout::vertical(vec![Constraint::Length(1); gauges]).split(gauge_area);
    for ((host, &(done, total)), row) in app.progress.iter().zip(rows.iter()) {
        let ratio = if total == 0 {
            0.0
        } else {
            (done as f64 / total as f64).clamp(0.0, 1.0)
        };
        let mut label = tr!(
            "tui.pane.progress",
            done = format!("{:.1}", done as f64 / 1024.0),
            total = format!("{:.1}", total as f64 / 1024.0),
            percent = (ratio * 100.0).floor() as u32
        );
        if app.progress.len() > 1 {
            label = format!("{host}: {label}");
        }
        f.render_widget(
            Gauge::default()
                .ratio(ratio)
                .label(label)
                .gauge_style(app.theme.ok())
                .use_unicode(true),
            *row,
        );
    }
}

fn title(app: &App, role: Role) -> String {
    let who = app.setup.as_ref().map(|s| s.target(role).host.clone());
    let name = pane_name(role);
    match who {
        Some(h) => format!("{name} · {h}"),
        None => name,
    }
}
/// "Primary", "Standby", "Standby 2", ... in the user's language.
pub fn pane_name(role: Role) -> String {
    match role {
        Role::Standby(i) if i > 0 => format!("{} {}", tr!("tui.pane.standby"), i + 1),
        _ => tr!(&format!("tui.pane.{}", role.kind())),
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
