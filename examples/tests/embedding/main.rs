//! The programs of `docs/embedding.md`, run as a user would.

mod kit;
mod parsers_only;
