//! Rows as the simulator hands them to writers: one typed value per contract column, or a deliberately bad literal.

/// The six log kinds of a contract dataset. The simulator restates the contract's kinds and
/// columns itself rather than borrowing `schema`, so that a mistake there shows up as a
/// disagreement with the truth instead of being copied into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogKind {
    Deliveries,
    Cache,
    Sessions,
    Ownership,
    Changes,
    Accounts,
}

/// How a column's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Text,
    /// An enumerated value (`cache_status`, `op`, `event`, `kind` of changes).
    Enum,
    Ts,
    Int,
    Num,
    Bool,
}

#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    pub ty: Ty,
}

const fn c(name: &'static str, ty: Ty) -> Col {
    Col { name, ty }
}

const DELIVERIES: &[Col] = &[
    c("ts", Ty::Ts),
    c("session_id", Ty::Text),
    c("requested_stream_id", Ty::Text),
    c("cache_node", Ty::Text),
    c("cache_key", Ty::Text),
    c("cache_status", Ty::Enum),
    c("request_id", Ty::Text),
    c("object_id", Ty::Text),
    c("origin_stream_id", Ty::Text),
    c("captured_at", Ty::Ts),
    c("kind", Ty::Text),
    c("bytes", Ty::Int),
    c("viewed", Ty::Bool),
    c("server", Ty::Text),
    c("rtt_ms", Ty::Int),
    c("loss_pct", Ty::Num),
    // Not a contract column: unknown columns must be kept, never an error.
    c("app_version", Ty::Text),
];
const CACHE: &[Col] = &[
    c("ts", Ty::Ts),
    c("cache_node", Ty::Text),
    c("cache_key", Ty::Text),
    c("op", Ty::Enum),
    c("object_id", Ty::Text),
    c("origin_stream_id", Ty::Text),
    c("captured_at", Ty::Ts),
    c("config_version", Ty::Text),
];
const SESSIONS: &[Col] = &[
    c("ts", Ty::Ts),
    c("session_id", Ty::Text),
    c("event", Ty::Enum),
    c("account_id", Ty::Text),
    c("client", Ty::Text),
    c("integration", Ty::Text),
];
const OWNERSHIP: &[Col] = &[
    c("ts", Ty::Ts),
    c("stream_id", Ty::Text),
    c("account_id", Ty::Text),
    c("event", Ty::Enum),
];
const CHANGES: &[Col] = &[
    c("ts", Ty::Ts),
    c("component", Ty::Text),
    c("kind", Ty::Enum),
    c("version", Ty::Text),
    c("description", Ty::Text),
];
/// `plan` is not a contract column: accounts may carry any other columns.
const ACCOUNTS: &[Col] = &[
    c("account_id", Ty::Text),
    c("country", Ty::Text),
    c("plan", Ty::Text),
];

impl LogKind {
    pub const ALL: [LogKind; 6] = [
        LogKind::Deliveries,
        LogKind::Cache,
        LogKind::Sessions,
        LogKind::Ownership,
        LogKind::Changes,
        LogKind::Accounts,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LogKind::Deliveries => "deliveries",
            LogKind::Cache => "cache",
            LogKind::Sessions => "sessions",
            LogKind::Ownership => "ownership",
            LogKind::Changes => "changes",
            LogKind::Accounts => "accounts",
        }
    }

    pub fn columns(self) -> &'static [Col] {
        match self {
            LogKind::Deliveries => DELIVERIES,
            LogKind::Cache => CACHE,
            LogKind::Sessions => SESSIONS,
            LogKind::Ownership => OWNERSHIP,
            LogKind::Changes => CHANGES,
            LogKind::Accounts => ACCOUNTS,
        }
    }

    /// Position of a column; panics on a name the kind does not have (a bug, not data).
    pub fn col(self, name: &str) -> usize {
        self.columns()
            .iter()
            .position(|c| c.name == name)
            .unwrap_or_else(|| panic!("{} has no column {name}", self.name()))
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// One value as the log writer meant it.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Null,
    Text(String),
    Enum(&'static str),
    Ts(i64),
    Int(i64),
    Num(f64),
    Bool(bool),
    /// A literal that breaks the contract on purpose (dirty mode), written as is.
    Bad(String),
}

impl Val {
    pub fn text(s: impl Into<String>) -> Val {
        Val::Text(s.into())
    }

    pub fn opt_text(s: Option<String>) -> Val {
        s.map(Val::Text).unwrap_or(Val::Null)
    }

    pub fn opt_ts(t: Option<i64>) -> Val {
        t.map(Val::Ts).unwrap_or(Val::Null)
    }
}

/// One row, aligned with [`LogKind::columns`].
pub type Row = Vec<Val>;
