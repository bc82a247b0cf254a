//! Real log formats: what a mapping file says about a kind's logs as their server wrote them (nginx, varnishncsa, W3C/CloudFront, Cloudflare, Google Cloud, Keycloak), and how each contract column is found in them.
//!
//! A [`FormatSpec`] is declared per log kind (`[deliveries] format = "nginx"`); [`Compiled`]
//! turns it, once per file, into a line matcher ([`pattern`], [`json`]) and one rule per
//! contract column ([`derive`]). Vendor defaults (which field holds the time, what `HIT` means)
//! live in [`presets`]. The imports run down that list: spec → presets → format.

pub mod derive;
pub mod format;
pub(crate) mod json;
pub mod pattern;
pub mod presets;
pub mod spec;

pub use derive::{Compiled, Scratch};
pub use format::LogFormat;
pub use pattern::{Escape, LinePattern};
pub use spec::{Derive, FormatSpec};
