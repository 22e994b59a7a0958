//! Draws the setup form: one row per field, the problem beside it, and under the fields
//! the focused field's explanation (or its whole problem).

use ratatui::layout::{Position, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Paragraph, Wrap};
use ratatui::Frame;

use super::app::{App, Level};
use super::form::{Field, Form};
use super::pane::char_width;
use crate::tr;

const LABEL: u16 = 20;
const INPUT_MIN: u16 = 30;
const INPUT_MAX: u16 = 48;

enum Row {
    Heading(&'static str),
    Field(Field),
}

/// Rows the form needs at least: these rows and two lines of help.
const ROWS: [Row; 19] = [
    Row::Heading("primary"),
    Row::Field(Field::PrimaryHost),
    Row::Field(Field::PrimaryUser),
    Row::Field(Field::PrimaryPort),
    Row::Field(Field::PrimaryKey),
    Row::Heading("standby"),
    Row::Field(Field::StandbyHost),
    Row::Field(Field::StandbyUser),
    Row::Field(Field::StandbyPort),
    Row::Field(Field::StandbyKey),
    Row::Field(Field::HostKeys),
    Row::Heading("postgres"),
    Row::Field(Field::Version),
    Row::Field(Field::PgPort),
    Row::Field(Field::Role),
    Row::Field(Field::Password),
    Row::Field(Field::Password2),
    Row::Field(Field::Cidr),
    Row::Field(Field::Continue),
];

pub fn render(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let form = &app.form;
    // On a large terminal the form keeps a readable size, centred.
    let area = super::ui::centered(area, 110, ROWS.len() as u16 + 6);
    let block = Block::bordered()
        .title(Span::styled(
            format!(" {} ", tr!("tui.form.title")),
            t.title(),
        ))
        .border_style(t.border());
    let inner = block.inner(area);
    f.render_widget(block, area);
    if inner.height == 0 {
        return;
    }
    let x0 = inner.x + 1;
    let width = inner.width.saturating_sub(2);
    let line = |y: u16| Rect {
        x: x0,
        y,
        width,
        height: 1,
    };
    let bottom = inner.y + inner.height;
    // Spare rows, when there are any, go to breathing space.
    let spare = inner.height.saturating_sub(ROWS.len() as u16 + 2);
    let mut y = inner.y + u16::from(spare >= 2);
    for row in ROWS.iter() {
        if y >= bottom {
            break;
        }
        if matches!(row, Row::Field(Field::Continue)) && spare >= 1 {
            y += 1;
        }
        match row {
            Row::Heading(k) => f.render_widget(
                Paragraph::new(Span::styled(tr!(&format!("tui.form.{k}")), t.title())),
                line(y),
            ),
            Row::Field(Field::Continue) => button(f, line(y), app),
            Row::Field(field) => field_row(f, line(y), app, *field),
        }
        y += 1;
    }
    // The focused field's explanation, or its problem in full.
    y += u16::from(spare >= 3);
    if y < bottom {
        let help = Rect {
            x: x0,
            y,
            width,
            height: bottom - y,
        };
        let focus = form.focus;
        let text = match (form.error(focus), &app.message, form.warning(focus)) {
            (Some(e), _, _) => Span::styled(e.to_string(), t.error()),
            (None, Some((level, m)), _) => Span::styled(m.clone(), level_style(t, *level)),
            (None, None, Some(w)) => Span::styled(w, t.warning()),
            (None, None, None) => Span::styled(field_help(form, focus), t.dim()),
        };
        f.render_widget(
            Paragraph::new(Line::from(text)).wrap(Wrap { trim: true }),
            help,
        );
    }
}

fn level_style(t: &super::theme::Theme, level: Level) -> ratatui::style::Style {
    match level {
        Level::Info => t.text(),
        Level::Warn => t.warning(),
        Level::Error => t.error(),
    }
}

fn field_help(form: &Form, f: Field) -> String {
    let mut s = tr!(&format!("tui.form.help.{}", f.key()));
    if f == Field::Cidr && !form.suggestions.is_empty() {
        let offers: Vec<String> = form
            .suggestions
            .iter()
            .enumerate()
            .map(|(i, n)| format!("F{} {n}", i + 2))
            .collect();
        s = format!(
            "{s} {}",
            tr!("tui.form.offers", offers = offers.join(" · "))
        );
    }
    s
}

fn field_row(f: &mut Frame, area: Rect, app: &App, field: Field) {
    let t = &app.theme;
    let form = &app.form;
    let focused = form.focus == field;
    let marker = if focused { "› " } else { "  " };
    let label_style = if focused { t.key() } else { t.text() };
    f.render_widget(
        Paragraph::new(Span::styled(
            format!("{marker}{}", tr!(&format!("tui.form.{}", field.key()))),
            label_style,
        )),
        Rect {
            width: LABEL.min(area.width),
            ..area
        },
    );
    let rest = area.width.saturating_sub(LABEL);
    let input_area = Rect {
        x: area.x + LABEL,
        width: (rest / 2).clamp(INPUT_MIN, INPUT_MAX).min(rest),
        ..area
    };
    let w = input_area.width.saturating_sub(1) as usize;
    let input = form.input(field);
    let (shown, style, cursor) = if field == Field::HostKeys {
        let mark = if form.trust_new_keys { "[x]" } else { "[ ]" };
        (
            format!("{mark} {}", tr!("tui.form.host_keys_trust")),
            t.text(),
            1,
        )
    } else if field.is_secret() {
        if form.password_preset() {
            let text = if field == Field::Password {
                tr!("tui.form.password_preset")
            } else {
                tr!("tui.form.not_needed")
            };
            (text, t.dim(), 0)
        } else {
            // One dot per character: the length shows typing works; the text never shows.
            let n = input.value().chars().count();
            let dots: String = "•".repeat(n.min(w));
            (dots, t.text(), n.min(w))
        }
    } else if input.value().is_empty() && !focused {
        let hint = match field {
            Field::Version => tr!("tui.form.auto"),
            f if f.optional() => tr!("tui.form.optional"),
            _ => String::new(),
        };
        (hint, t.dim(), 0)
    } else if focused {
        let scroll = input.visual_scroll(w);
        let visible: String = skip_columns(input.value(), scroll, w);
        (
            visible,
            t.text(),
            input.visual_cursor().saturating_sub(scroll),
        )
    } else {
        // Not being edited: the start of the value, cut with … when it does not fit.
        let mut visible = skip_columns(input.value(), 0, w);
        if visible.len() < input.value().len() {
            visible = skip_columns(&visible, 0, w.saturating_sub(1));
            visible.push('…');
        }
        (visible, t.text(), 0)
    };
    f.render_widget(
        Paragraph::new(Span::styled(format!(" {shown}"), style)).style(t.input()),
        input_area,
    );
    if focused {
        f.set_cursor_position(Position::new(
            input_area.x + 1 + cursor as u16,
            input_area.y,
        ));
    }
    let side = Rect {
        x: input_area.x + input_area.width + 1,
        width: area.width.saturating_sub(LABEL + input_area.width + 1),
        ..area
    };
    if side.width == 0 {
        return;
    }
    let note = match (form.error(field), form.warning(field)) {
        (Some(e), _) => Some(Span::styled(format!("✗ {e}"), t.error())),
        (None, Some(w)) => Some(Span::styled(format!("! {w}"), t.warning())),
        (None, None) => None,
    };
    if let Some(n) = note {
        let style = n.style;
        let text = fit(&n.content, side.width as usize);
        f.render_widget(Paragraph::new(Span::styled(text, style)), side);
    }
}

/// `s` cut to `width` columns, ending in … when cut (the full text shows under the form
/// when its field has the focus).
fn fit(s: &str, width: usize) -> String {
    if Span::raw(s).width() <= width {
        return s.to_string();
    }
    let mut out = skip_columns(s, 0, width.saturating_sub(1));
    out.push('…');
    out
}

/// The part of `s` from display column `skip`, at most `width` columns.
fn skip_columns(s: &str, skip: usize, width: usize) -> String {
    let mut col = 0;
    let mut out = String::new();
    for c in s.chars() {
        let w = char_width(c);
        if col >= skip && col + w <= skip + width {
            out.push(c);
        }
        col += w;
    }
    out
}

fn button(f: &mut Frame, area: Rect, app: &App) {
    let t = &app.theme;
    let form = &app.form;
    let focused = form.focus == Field::Continue;
    let label = format!("[ {} ]", tr!("tui.form.continue"));
    let style = if focused { t.selected() } else { t.text() };
    let marker = if focused { "› " } else { "  " };
    let mut spans = vec![
        Span::raw(marker),
        Span::styled(label, style),
        Span::raw("  "),
    ];
    if let Some(g) = form.general_errors().first() {
        spans.push(Span::styled(format!("✗ {g}"), t.error()));
    } else if form.is_valid() {
        spans.push(Span::styled(tr!("tui.form.ready"), t.ok()));
    } else if form.submitted {
        spans.push(Span::styled(tr!("tui.form.fix_first"), t.error()));
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}
