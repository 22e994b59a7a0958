//! Before a step runs: what it changes and why, then the exact commands per host.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Padding, Paragraph, Wrap};
use ratatui::Frame;

use super::app::App;
use super::engine_task::Preview;
use crate::engine::{Role, StepId};
use crate::tr;

pub fn lines<'a>(app: &App, p: &Preview) -> Vec<Line<'a>> {
    let t = &app.theme;
    let mut out = vec![
        Line::from(vec![
            Span::styled(format!("{} ", tr!("tui.preview.what")), t.title()),
            Span::raw(p.what.clone()),
        ]),
        Line::from(vec![
            Span::styled(format!("{} ", tr!("tui.preview.why")), t.title()),
            Span::raw(p.why.clone()),
        ]),
    ];
    let earlier: Vec<&str> = StepId::ALL
        .into_iter()
        .filter(|id| *id < p.step && !app.steps[id.index()].state.is_complete())
        .map(|id| id.name())
        .collect();
    if !earlier.is_empty() {
        out.push(Line::from(Span::styled(
            tr!("tui.preview.earlier", steps = earlier.join(", ")),
            t.warning(),
        )));
    }
    out.push(Line::default());
    out.push(Line::from(Span::styled(
        tr!("tui.preview.commands"),
        t.title(),
    )));
    let commands = match &p.commands {
        Ok(c) => c.as_slice(),
        Err(_) => &[],
    };
    let roles: Vec<Role> = match &app.setup {
        Some(s) => s.roles(),
        None => Role::all(1),
    };
    let per_host: Vec<Vec<&String>> = roles
        .iter()
        .map(|role| {
            commands
                .iter()
                .filter(|(r, _)| r == role)
                .map(|(_, c)| c)
                .collect()
        })
        .collect();
    // The same list for every host is shown once.
    let groups: Vec<(String, &Vec<&String>)> = if per_host.windows(2).all(|w| w[0] == w[1]) {
        vec![(tr!("tui.preview.both"), &per_host[0])]
    } else {
        roles
            .iter()
            .map(|r| (super::panes_view::pane_name(*r), &per_host[r.index()]))
            .collect()
    };
    for (title, cmds) in groups {
        if cmds.is_empty() {
            continue;
        }
        out.push(Line::default());
        out.push(Line::from(Span::styled(title, t.focus_border())));
        for c in cmds {
            for (i, l) in c.lines().enumerate() {
                let prefix = if i == 0 { "$ " } else { "> " };
                out.push(Line::from(Span::styled(
                    format!("{prefix}{}", super::pane::sanitize(l)),
                    t.command(),
                )));
            }
        }
    }
    if commands.is_empty() {
        out.push(Line::from(Span::styled(
            tr!("tui.preview.no_commands"),
            t.dim(),
        )));
    }
    out
}

pub fn render(f: &mut Frame, area: Rect, app: &App, p: &Preview, scroll: u16) {
    let t = &app.theme;
    let rect = area.centered(Constraint::Percentage(92), Constraint::Percentage(92));
    let title = tr!(
        "tui.preview.title",
        n = p.step.index() + 1,
        of = StepId::ALL.len(),
        step = p.step
    );
    let question = if app.run_all {
        tr!("tui.preview.ask_all", step = p.step)
    } else {
        tr!("tui.preview.ask", step = p.step)
    };
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), t.title()))
        .title_bottom(Line::from(Span::styled(format!(" {question} "), t.key())))
        .border_style(t.focus_border())
        .padding(Padding::horizontal(1));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines(app, p))
            .block(block)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        rect,
    );
}
