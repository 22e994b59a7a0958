//! The interactive wizard: a ratatui front end over the same engine the headless commands
//! use. `app` holds the state and changes it only in `update` (keys in `keys`, engine
//! events and replies in `messages`, the form's fields in `form`); the `*_view`, `dialog`,
//! `preview`, `card`, `help` and `status` modules draw it; `runtime` owns the terminal and
//! the loop; `engine_task` runs the engine in its own task.

pub mod app;
mod card;
mod dialog;
pub mod engine_task;
pub mod form;
mod form_view;
mod help;
mod keys;
mod messages;
pub mod pane;
mod panes_view;
mod preview;
mod runtime;
mod status;
mod steps_view;
pub mod theme;
pub mod ui;

#[cfg(test)]
mod tests;

pub use runtime::run;
