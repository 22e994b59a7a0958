//! pgrepl: PostgreSQL streaming replication, set up step by step over SSH.

pub mod cli;
pub mod config;
pub mod engine;
pub mod lab;
pub mod platform;
pub mod private;
pub mod quote;
pub mod remote;
pub mod report;
pub mod secret;
pub mod steps;
pub mod text;
pub mod tui;
pub mod wizard;
