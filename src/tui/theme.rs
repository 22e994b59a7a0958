//! Colours, or none when `NO_COLOR` is set: every state also has a symbol, so nothing is
//! told by colour alone.

use ratatui::style::{Color, Modifier, Style};

use crate::engine::StepState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Honours <https://no-color.org>: any non-empty `NO_COLOR` turns colour off.
    pub fn from_env() -> Theme {
        let off = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme { color: !off }
    }

    pub fn plain() -> Theme {
        Theme { color: false }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    pub fn text(&self) -> Style {
        Style::new()
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::new().fg(Color::DarkGray)
        } else {
            Style::new()
        }
    }

    pub fn title(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn focus_border(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn border(&self) -> Style {
        self.dim()
    }

    pub fn command(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn stderr(&self) -> Style {
        self.fg(Color::Yellow)
    }

    pub fn ok(&self) -> Style {
        self.fg(Color::Green)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn warning(&self) -> Style {
        self.fg(Color::Yellow).add_modifier(Modifier::BOLD)
    }

    pub fn note(&self) -> Style {
        self.fg(Color::Magenta)
    }

    pub fn key(&self) -> Style {
        self.fg(Color::Cyan).add_modifier(Modifier::BOLD)
    }

    pub fn input(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Rgb(40, 40, 48))
        } else {
            Style::new().add_modifier(Modifier::UNDERLINED)
        }
    }

    pub fn state(&self, s: StepState) -> Style {
        match s {
            StepState::Pending => self.dim(),
            StepState::Running => self.fg(Color::Cyan),
            StepState::Paused => self.warning(),
            StepState::Done | StepState::Skipped => self.ok(),
            StepState::Failed | StepState::Interrupted => self.error(),
            StepState::RolledBack => self.fg(Color::Blue),
        }
    }
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// The symbol shown before a step's name; `tick` turns the spinner.
pub fn state_symbol(s: StepState, tick: u64) -> &'static str {
    match s {
        StepState::Pending => "·",
        StepState::Running => SPINNER[(tick as usize) % SPINNER.len()],
        StepState::Paused => "‖",
        StepState::Done => "✓",
        StepState::Skipped => "✓",
        StepState::Failed => "✗",
        StepState::RolledBack => "↺",
        StepState::Interrupted => "!",
    }
}
