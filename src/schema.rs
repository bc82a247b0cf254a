//! The contract's log kinds and columns, as data: what each kind requires and how each column is typed.

use std::fmt;

/// One log kind of a dataset; each lives in its own subfolder.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Deliveries,
    Cache,
    Sessions,
    Ownership,
    Changes,
    Accounts,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::Deliveries,
        Kind::Cache,
        Kind::Sessions,
        Kind::Ownership,
        Kind::Changes,
        Kind::Accounts,
    ];

    /// The subfolder name, which is also the name used in reports and mapping files.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Deliveries => "deliveries",
            Kind::Cache => "cache",
            Kind::Sessions => "sessions",
            Kind::Ownership => "ownership",
            Kind::Changes => "changes",
            Kind::Accounts => "accounts",
        }
    }

    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn required(self) -> bool {
        !matches!(self, Kind::Changes | Kind::Accounts)
    }

    pub fn columns(self) -> &'static [Column] {
        match self {
            Kind::Deliveries => DELIVERIES,
            Kind::Cache => CACHE,
            Kind::Sessions => SESSIONS,
            Kind::Ownership => OWNERSHIP,
            Kind::Changes => CHANGES,
            Kind::Accounts => ACCOUNTS,
        }
    }

    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a column's text is parsed and checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// Opaque identifier or free text, compared exactly.
    Text,
    /// A timestamp in one of the contract's three forms.
    Timestamp,
    /// A number (integer or decimal).
    Number,
    /// `true` or `false`.
    Bool,
    /// One of a fixed set of lower-case values, compared case-insensitively.
    Enum(&'static [&'static str]),
}

/// When a column's value must be present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Required only when another column has one of the given values.
    RequiredWhen(&'static str, &'static [&'static str]),
}

/// A contract column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColumnType,
    pub presence: Presence,
}

const fn col(name: &'static str, ty: ColumnType, presence: Presence) -> Column {
    Column { name, ty, presence }
}

use ColumnType::*;
use Presence::*;

/// A closed set of contract values. Validation turns each cell of such a column into a code once,
/// at load: its position in `NAMES` (read them with `Table::enums`).
pub trait EnumValue: Copy + Sized + 'static {
    /// The contract's lower-case names, in code order.
    const NAMES: &'static [&'static str];
    fn from_code(code: u8) -> Option<Self>;
    fn name(self) -> &'static str;
}

macro_rules! contract_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                <Self as EnumValue>::NAMES[self as usize]
            }
        }

        impl EnumValue for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];

            fn from_code(code: u8) -> Option<Self> {
                const ALL: &[$name] = &[$($name::$variant),+];
                ALL.get(code as usize).copied()
            }

            fn name(self) -> &'static str {
                Self::NAMES[self as usize]
            }
        }
    };
}

contract_enum!(
    /// `cache_status` of a delivery.
    CacheStatus { Hit = "hit", Miss = "miss", Bypass = "bypass" }
);
contract_enum!(
    /// `op` of a cache row.
    CacheOp { Fill = "fill", Evict = "evict", Purge = "purge" }
);
contract_enum!(
    /// `event` of a session row.
    SessionEvent { Start = "start", End = "end" }
);
contract_enum!(
    /// `event` of an ownership row.
    OwnershipEvent { Bind = "bind", Unbind = "unbind", Grant = "grant", Revoke = "revoke" }
);
contract_enum!(
    /// `kind` of a change.
    ChangeKind {
        Deploy = "deploy",
        Config = "config",
        Rollback = "rollback",
        Detection = "detection",
        Mitigation = "mitigation",
        Note = "note",
    }
);

pub const CACHE_STATUS: &[&str] = CacheStatus::NAMES;
pub const CACHE_OPS: &[&str] = CacheOp::NAMES;
pub const SESSION_EVENTS: &[&str] = SessionEvent::NAMES;
pub const OWNERSHIP_EVENTS: &[&str] = OwnershipEvent::NAMES;
pub const CHANGE_KINDS: &[&str] = ChangeKind::NAMES;

const DELIVERIES: &[Column] = &[
    col("ts", Timestamp, Required),
    col("session_id", Text, Required),
    col("requested_stream_id", Text, Required),
    col("cache_node", Text, Required),
    col("cache_key", Text, Required),
    col("cache_status", Enum(CACHE_STATUS), Required),
    col("request_id", Text, Optional),
    col("object_id", Text, Optional),
    col("origin_stream_id", Text, Optional),
    col("captured_at", Timestamp, Optional),
    col("kind", Text, Optional),
    col("bytes", Number, Optional),
    col("viewed", Bool, Optional),
    col("server", Text, Optional),
    col("rtt_ms", Number, Optional),
    col("loss_pct", Number, Optional),
];

const CACHE: &[Column] = &[
    col("ts", Timestamp, Required),
    col("cache_node", Text, Required),
    col("cache_key", Text, Required),
    col("op", Enum(CACHE_OPS), Required),
    col("object_id", Text, RequiredWhen("op", &["fill"])),
    col("origin_stream_id", Text, RequiredWhen("op", &["fill"])),
    col("captured_at", Timestamp, Optional),
    col("config_version", Text, Optional),
];

const SESSIONS: &[Column] = &[
    col("ts", Timestamp, Required),
    col("session_id", Text, Required),
    col("event", Enum(SESSION_EVENTS), Required),
    col("account_id", Text, RequiredWhen("event", &["start"])),
    col("client", Text, Optional),
    col("integration", Text, Optional),
];

const OWNERSHIP: &[Column] = &[
    col("ts", Timestamp, Required),
    col("stream_id", Text, Required),
    col("account_id", Text, Required),
    col("event", Enum(OWNERSHIP_EVENTS), Required),
];

const CHANGES: &[Column] = &[
    col("ts", Timestamp, Required),
    col("component", Text, Required),
    col("kind", Enum(CHANGE_KINDS), Required),
    col("version", Text, Optional),
    col("description", Text, Optional),
];

const ACCOUNTS: &[Column] = &[
    col("account_id", Text, Required),
    col("country", Text, Optional),
];

/// The contract column closest to `name`, for "did you mean" hints.
pub fn closest_column(kind: Kind, name: &str) -> Option<&'static str> {
    closest(name, kind.columns().iter().map(|c| c.name))
}

/// The candidate most like `name` (Jaro-Winkler above 0.7), the first of equals.
pub fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(f64, &str)> = None;
    for c in candidates {
        let score = strsim::jaro_winkler(c, name);
        if score > 0.7 && best.is_none_or(|(b, _)| score > b) {
            best = Some((score, c));
        }
    }
    best.map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_by_name() {
        for k in Kind::ALL {
            assert_eq!(Kind::from_name(k.name()), Some(k));
        }
        assert_eq!(Kind::from_name("delivery"), None);
    }

    #[test]
    fn enum_codes_are_positions_in_their_names() {
        for (code, name) in OwnershipEvent::NAMES.iter().enumerate() {
            let e = OwnershipEvent::from_code(code as u8).unwrap();
            assert_eq!(e.name(), *name);
        }
        assert_eq!(OwnershipEvent::from_code(4), None);
        assert_eq!(ChangeKind::Note.name(), "note");
        assert_eq!(CacheOp::from_code(2), Some(CacheOp::Purge));
    }

    #[test]
    fn hint_finds_near_misses() {
        assert_eq!(
            closest_column(Kind::Deliveries, "sesion_id"),
            Some("session_id")
        );
        assert_eq!(closest_column(Kind::Cache, "cache_nod"), Some("cache_node"));
        assert_eq!(closest_column(Kind::Sessions, "zzzzzz"), None);
    }
}
