//! Draws the whole screen from the app state; nothing here changes it.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Screen};
use super::{dialog, form_view, help, panes_view, status, steps_view};
use crate::tr;

pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;
/// Below this width the two output panes share one place, switched with Tab.
pub const SIDE_BY_SIDE: u16 = 100;

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(f, area, app);
        return;
    }
    let [body, bar] = area.layout(&Layout::vertical([
        Constraint::Min(0),
        Constraint::Length(status::height(app)),
    ]));
    match app.screen {
        Screen::Form => form_view::render(f, body, app),
        Screen::Steps => main_view(f, body, app),
    }
    status::render(f, bar, app);
    if let Some(m) = &app.modal {
        dialog::render(f, body, app, m);
    }
    if app.help {
        help::render(f, body, app);
    }
}

fn main_view(f: &mut Frame, area: Rect, app: &App) {
    let [header, rest] = area.layout(&Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(0),
    ]));
    f.render_widget(Paragraph::new(header_line(app, header.width)), header);
    let [left, right] = rest.layout(&Layout::horizontal([
        Constraint::Length(steps_view::WIDTH),
        Constraint::Min(0),
    ]));
    steps_view::render(f, left, app);
    panes_view::render(f, right, app);
}

fn header_line(app: &App, width: u16) -> Line<'static> {
    let t = &app.theme;
    let mut spans = vec![Span::styled(" pgrepl  ", t.title())];
    if let Some(s) = &app.setup {
        spans.push(Span::styled(
            tr!(
                "tui.header.setup",
                primary = s.primary.label(),
                standby = s
                    .standbys
                    .iter()
                    .map(|t| t.label())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            t.dim(),
        ));
        // The network only when it fits whole.
        let cidr = tr!("tui.header.cidr", cidr = s.allowed_cidr);
        let used: usize = spans.iter().map(|s| s.width()).sum();
        if used + Span::raw(cidr.as_str()).width() <= width as usize {
            spans.push(Span::styled(cidr, t.dim()));
        }
    }
    Line::from(spans)
}

fn too_small(f: &mut Frame, area: Rect, app: &App) {
    let text = tr!(
        "tui.small",
        width = area.width,
        height = area.height,
        min_width = MIN_WIDTH,
        min_height = MIN_HEIGHT
    );
    let block = Block::bordered().border_style(app.theme.border());
    let inner = block.inner(area);
    f.render_widget(block, area);
    let h = inner.height.min(4);
    let mid = Rect {
        y: inner.y + inner.height.saturating_sub(h) / 2,
        height: h,
        ..inner
    };
    f.render_widget(
        Paragraph::new(text)
            .wrap(Wrap { trim: true })
            .alignment(ratatui::layout::Alignment::Center)
            .style(app.theme.warning()),
        mid,
    );
}

/// A rectangle `w`×`h` centred in `area`, clipped to it.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}
