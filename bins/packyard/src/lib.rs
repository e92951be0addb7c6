//! The packyard server as a library: settings, the assembled services and the actix app, so the binary
//! and the integration tests build exactly the same server.

pub mod app;
pub mod openapi;
pub mod settings;
