//! Modal windows: the step preview, y/N questions, the network offer, the verification
//! card and errors. Each clears what is under it.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Modal};
use super::ui::centered;
use super::{card, preview};
use crate::config::is_wide;
use crate::tr;

pub fn render(f: &mut Frame, area: Rect, app: &App, modal: &Modal) {
    let t = &app.theme;
    match modal {
        Modal::Preview { preview: p, scroll } => preview::render(f, area, app, p, *scroll),
        Modal::Confirm { title, body, .. } => {
            let mut lines: Vec<Line> = body.iter().map(|l| Line::from(l.clone())).collect();
            lines.push(Line::default());
            lines.push(Line::from(Span::styled(tr!("tui.confirm.yn"), t.key())));
            popup(f, area, app, title, lines, 72);
        }
        Modal::Cidr {
            options,
            current,
            selected,
        } => {
            let mut lines = vec![Line::from(tr!("tui.cidr.body")), Line::default()];
            let mut choice = |i: usize, text: String| {
                let marker = if i == *selected { "›" } else { " " };
                let line = Line::from(format!("{marker} {text}"));
                lines.push(if i == *selected {
                    line.style(t.selected())
                } else {
                    line
                });
            };
            for (i, net) in options.iter().enumerate() {
                let what = if net.prefix_len() == net.max_prefix_len() {
                    tr!("tui.cidr.address", cidr = net)
                } else {
                    tr!("tui.cidr.network", cidr = net)
                };
                choice(i, what);
            }
            let keep = if is_wide(current) {
                tr!("tui.cidr.keep_everyone", cidr = current)
            } else {
                tr!("tui.cidr.keep_missing", cidr = current)
            };
            choice(options.len(), keep);
            popup(f, area, app, &tr!("tui.cidr.title"), lines, 72);
        }
        Modal::Card => {
            if let Some(r) = app.card() {
                // Over the output panes, beside the step list (which shows it too).
                let w = super::steps_view::WIDTH.min(area.width);
                let panes = Rect {
                    x: area.x + w,
                    width: area.width - w,
                    ..area
                };
                let rect = centered(panes, card::WIDTH, card::HEIGHT);
                card::render(f, rect, r, t);
            }
        }
        Modal::Error(e) => {
            let lines = e.lines().map(|l| Line::from(l.to_string())).collect();
            popup(f, area, app, &tr!("tui.error.title"), lines, 72);
        }
        Modal::SshPassword { host, input } => {
            // Dots only: the length shows typing worked, nothing else.
            let dots = "•".repeat(input.value().chars().count().min(40));
            let lines = vec![
                Line::from(tr!("tui.ssh_password.body")),
                Line::default(),
                Line::from(format!("> {dots}")),
            ];
            let title = format!("{} · {}", tr!("tui.ssh_password.title"), host);
            popup(f, area, app, &title, lines, 72);
        }
    }
}

/// A bordered window sized to its text (wrapped at `width`).
pub(super) fn popup(
    f: &mut Frame,
    area: Rect,
    app: &App,
    title: &str,
    lines: Vec<Line>,
    width: u16,
) {
    let t = &app.theme;
    let width = width.min(area.width.saturating_sub(4));
    let inner_w = width.saturating_sub(4).max(1) as usize;
    let rows: usize = lines
        .iter()
        .map(|l| {
            let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
            wrapped_rows(&text, inner_w)
        })
        .sum();
    let height = (rows as u16 + 2).min(area.height.saturating_sub(2));
    let rect = centered(area, width, height);
    let block = Block::bordered()
        .title(Span::styled(format!(" {title} "), t.title()))
        .border_style(t.focus_border())
        .padding(ratatui::widgets::Padding::horizontal(1));
    f.render_widget(Clear, rect);
    f.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        rect,
    );
}

/// Rows `text` takes when wrapped at word boundaries to `width` columns, as `Paragraph`
/// does (a word longer than the width is split).
fn wrapped_rows(text: &str, width: usize) -> usize {
    let width = width.max(1);
    let mut rows = 1;
    let mut used = 0;
    for word in text.split(' ') {
        let w = Span::raw(word).width();
        let need = if used == 0 { w } else { used + 1 + w };
        if need <= width {
            used = need;
        } else if w <= width {
            rows += 1;
            used = w;
        } else {
            rows += usize::from(used > 0) + (w - 1) / width;
            used = w % width;
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::wrapped_rows;

    #[test]
    fn counts_wrapped_rows_like_a_paragraph() {
        assert_eq!(wrapped_rows("", 10), 1);
        assert_eq!(wrapped_rows("aaaa bbbb", 9), 1);
        assert_eq!(wrapped_rows("aaaa bbbb", 8), 2);
        assert_eq!(wrapped_rows("aaaaaaaaaaaa", 5), 3);
    }
}
