//! One module per command, each with the entry `run(ctx, args, out)`.

pub(crate) mod completion;
pub(crate) mod get;
pub(crate) mod ignite;
pub(crate) mod image;
pub(crate) mod lock;
pub(crate) mod tag;
