//! Integration tests of the harness itself, one module per stand-in.

mod apiserver;
