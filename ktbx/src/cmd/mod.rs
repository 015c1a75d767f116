//! One module per command, each with one entry point `run`. Commands import the CLI definitions,
//! the shared context and the domain modules, never each other or the dispatcher.

pub(crate) mod apply;
pub(crate) mod completion;
pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod desk;
pub(crate) mod doctor;
pub(crate) mod exist;
pub(crate) mod install;
pub(crate) mod status;
pub(crate) mod version;
