//! The log formats leakscope reads besides the contract's, and which kinds each can describe.

use serde::Serialize;

use crate::schema::Kind;

/// The format a kind's files are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// nginx `access_log` with a `log_format` string (default: `combined`).
    Nginx,
    /// varnishncsa with a `-F` format string (default: its default format).
    Varnishncsa,
    /// W3C extended log files as CloudFront's standard logs write them: `#Fields:` directives,
    /// tab-separated URL-encoded values.
    W3c,
    /// Cloudflare Logpush `http_requests`: a JSON object per line, fields by name.
    Cloudflare,
    /// Google Cloud Logging `LogEntry` lines of an external Application Load Balancer with Cloud
    /// CDN, as a logging sink exports them: nested JSON.
    GcpLogging,
    /// Keycloak user events as JSON (the admin REST API's `events`, one array, or one event
    /// per line): sessions.
    Keycloak,
}

impl LogFormat {
    pub fn from_name(name: &str) -> Option<LogFormat> {
        match name {
            "nginx" => Some(LogFormat::Nginx),
            "varnishncsa" => Some(LogFormat::Varnishncsa),
            "w3c" => Some(LogFormat::W3c),
            "cloudflare" => Some(LogFormat::Cloudflare),
            "gcp-logging" => Some(LogFormat::GcpLogging),
            "keycloak" => Some(LogFormat::Keycloak),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Nginx => "nginx",
            LogFormat::Varnishncsa => "varnishncsa",
            LogFormat::W3c => "w3c",
            LogFormat::Cloudflare => "cloudflare",
            LogFormat::GcpLogging => "gcp-logging",
            LogFormat::Keycloak => "keycloak",
        }
    }

    /// The kinds this format can describe: access logs are deliveries, identity events sessions.
    pub fn describes(self, kind: Kind) -> bool {
        match self {
            LogFormat::Keycloak => kind == Kind::Sessions,
            _ => kind == Kind::Deliveries,
        }
    }

    /// Whether each line is a JSON object whose fields are named, not placed.
    pub fn is_json(self) -> bool {
        matches!(
            self,
            LogFormat::Cloudflare | LogFormat::GcpLogging | LogFormat::Keycloak
        )
    }
}
