//! The verdict of one delivery: its class, why, and the evidence behind it. Every report reads this record.

use serde::Serialize;

use crate::table::Text;

/// The one class each delivery gets (contract §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    Ok,
    Leak,
    Ambiguous,
    Unresolved,
}

impl Class {
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Leak => "leak",
            Class::Ambiguous => "ambiguous",
            Class::Unresolved => "unresolved",
        }
    }
}

/// What could not be determined for an `unresolved` delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Missing {
    /// The session was not open at t, or has no events at all.
    NoSession,
    /// The delivery names no origin and the cache held nothing under its key at t.
    NoContent,
    /// The origin stream had no owner at capture time.
    NoOwner,
}

impl Missing {
    pub fn as_str(self) -> &'static str {
        match self {
            Missing::NoSession => "no_session",
            Missing::NoContent => "no_content",
            Missing::NoOwner => "no_owner",
        }
    }
}

/// Where a delivery's content was determined from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentSource {
    /// The delivery row named its own origin stream.
    Delivery,
    /// The cache log: what (cache_node, cache_key) held at t.
    Cache,
}

impl ContentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ContentSource::Delivery => "delivery",
            ContentSource::Cache => "cache",
        }
    }
}

/// The verdict and evidence for one accepted delivery (evaluated at t, no shift).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub class: Class,
    /// For `unresolved`: the first thing that could not be found.
    pub missing: Option<Missing>,
    /// For `ambiguous`: which shifted evaluation flipped (`earlier`, `later` or `both`).
    pub flipped: Option<&'static str>,
    pub recipient: Option<Text>,
    pub subject: Option<Text>,
    pub origin_stream_id: Option<Text>,
    pub object_id: Option<Text>,
    /// The capture time used for the ownership look-up.
    pub capture_ts: Option<i64>,
    pub content_source: Option<ContentSource>,
    /// The fill that the cache held at t, when content came from the cache.
    pub fill_ts: Option<i64>,
    pub config_version: Option<Text>,
    /// The recipient held a grant on the origin stream at t.
    pub granted: bool,
}

impl Verdict {
    /// A verdict with its class only, for stage tests that do not look at evidence.
    #[cfg(test)]
    pub(crate) fn without_evidence(class: Class) -> Verdict {
        Verdict {
            class,
            missing: None,
            flipped: None,
            recipient: None,
            subject: None,
            origin_stream_id: None,
            object_id: None,
            capture_ts: None,
            content_source: None,
            fill_ts: None,
            config_version: None,
            granted: false,
        }
    }
}
