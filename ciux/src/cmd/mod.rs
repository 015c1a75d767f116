//! One module per command.

pub mod get;
pub mod ignite;
pub mod image;
pub mod tag;
