//! One module per command, each with the entry `run(ctx, args, out)`.

pub(crate) mod completion;
pub(crate) mod createsecrets;
pub(crate) mod delete;
pub(crate) mod events;
pub(crate) mod get;
pub(crate) mod lifecycle;
pub(crate) mod logs;
pub(crate) mod run;
pub(crate) mod s3;
pub(crate) mod status;
pub(crate) mod version;
pub(crate) mod wait;
