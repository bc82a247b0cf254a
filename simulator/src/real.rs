//! Real log forms (`--real-logs`): a delivery as a line of an nginx access log, a session event as a Keycloak user event, and the `mapping.toml` that reads them.
//!
//! Each line carries exactly what the delivery's or the event's contract row carries, so that
//! the dataset differs from the contract form only in what a real edge cannot log: its cache's
//! fills, evictions and purges (there is no cache log; the analyser infers the fills from the
//! misses, and the truth is judged the same way, in `sim`).

use std::collections::HashMap;

use super::rows::{LogKind, Row, Val};
use super::timefmt::push_clf;

/// The stream servers' `log_format`. `$cache_key` is the server's `proxy_cache_key`, set from
/// the request in its configuration; the `X-Object-Id`, `X-Origin-Stream` and `X-Captured-At`
/// response headers are stored with a cached response, so a hit sends (and logs) those of the
/// fill it came from when the origin gave them. `RTT` is the client's network hint in
/// milliseconds, `X-Loss-Pct` and `X-Viewed` the app's own report.
pub const NGINX_LOG_FORMAT: &str = concat!(
    r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "#,
    r#""$http_referer" "$http_user_agent" $msec $http_x_request_id $hostname $server_name "#,
    r#"$upstream_cache_status "$cache_key" "$cookie_sid" $sent_http_x_object_id "#,
    r#"$sent_http_x_origin_stream $sent_http_x_captured_at $http_x_viewed $http_rtt $http_x_loss_pct"#
);

/// The Keycloak realm the simulated platform's viewers log in to.
const REALM: &str = "cameras";

/// The `mapping.toml` of a `--real-logs` dataset.
pub fn mapping_toml() -> String {
    format!(
        r#"# Written by leakscope generate --real-logs: how to read this dataset's logs.
# deliveries/<server>/access.log: nginx on each stream server, with this in nginx.conf:
#   log_format leakscope '{NGINX_LOG_FORMAT}';
# sessions/: the Keycloak realm's user events, one JSON object per line.
# There is no cache/ folder: dataset.toml says infer_cache = true.
[deliveries]
format = "nginx"
log_format = '{NGINX_LOG_FORMAT}'

[deliveries.derive]
request_id = "http_x_request_id"
session_id = "cookie_sid"
requested_stream_id = {{ from = "request", regex = '^GET /cam/(?P<v>[^/]+)/' }}
kind = {{ from = "request", regex = '^GET /cam/[^/]+/(?P<v>[a-z]+)' }}
cache_key = "cache_key"
server = "server_name"
object_id = "sent_http_x_object_id"
origin_stream_id = "sent_http_x_origin_stream"
captured_at = {{ from = "sent_http_x_captured_at", time = "epoch_ms" }}
viewed = "http_x_viewed"
rtt_ms = "http_rtt"
loss_pct = "http_x_loss_pct"

[sessions]
format = "keycloak"

[sessions.derive]
integration = "details.integration"
"#
    )
}

/// Renders rows as the real servers would have logged them. Keeps, per session, whether it is
/// open and as whom, to tell a login from a token refresh.
#[derive(Debug, Default)]
pub struct RealForms {
    sessions: HashMap<String, (bool, String)>,
}

fn text(v: &Val) -> Option<&str> {
    match v {
        Val::Text(s) => Some(s),
        Val::Enum(s) => Some(s),
        _ => None,
    }
}

/// An nginx variable's value as nginx's default `escape` writes it: `"`, `\` and bytes outside
/// printable ASCII as `\xHH`, and `-` for a value it does not have.
fn push_var(out: &mut String, v: Option<&str>) {
    match v {
        None | Some("") => out.push('-'),
        Some(s) => {
            for b in s.bytes() {
                if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                    out.push_str(&format!("\\x{b:02X}"));
                } else {
                    out.push(b as char);
                }
            }
        }
    }
}

/// A private address per session, so one viewer keeps one address.
fn address(session: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in session.bytes() {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    format!(
        "10.{}.{}.{}",
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        (h & 0xfe) | 1
    )
}

impl RealForms {
    /// The line for one row, or `None` for a kind that keeps the contract form.
    pub fn line(&mut self, kind: LogKind, row: &Row) -> Option<String> {
        match kind {
            LogKind::Deliveries => Some(nginx_line(row)),
            LogKind::Sessions => Some(self.keycloak_line(row)),
            _ => None,
        }
    }

    fn keycloak_line(&mut self, row: &Row) -> String {
        let k = LogKind::Sessions;
        let ts = match row[k.col("ts")] {
            Val::Ts(ms) => ms,
            ref other => panic!("a session row's time is {other:?}"),
        };
        let session = text(&row[k.col("session_id")])
            .unwrap_or_default()
            .to_string();
        let start = text(&row[k.col("event")]) == Some("start");
        let named = text(&row[k.col("account_id")]).map(str::to_string);
        let client = text(&row[k.col("client")]);
        let integration = text(&row[k.col("integration")]);
        let state = self.sessions.get(&session).cloned();
        let (kind, user) = if start {
            let user = named.clone().unwrap_or_default();
            let refresh = matches!(&state, Some((true, a)) if *a == user);
            self.sessions.insert(session.clone(), (true, user.clone()));
            (if refresh { "REFRESH_TOKEN" } else { "LOGIN" }, Some(user))
        } else {
            let user = named.or(state.map(|(_, a)| a));
            if let Some(s) = self.sessions.get_mut(&session) {
                s.0 = false;
            }
            ("LOGOUT", user)
        };
        let mut event = serde_json::Map::new();
        event.insert("time".into(), ts.into());
        event.insert("type".into(), kind.into());
        event.insert("realmId".into(), REALM.into());
        if let Some(c) = client {
            event.insert("clientId".into(), c.into());
        }
        if let Some(u) = &user {
            event.insert("userId".into(), u.as_str().into());
        }
        event.insert("sessionId".into(), session.as_str().into());
        event.insert("ipAddress".into(), address(&session).into());
        let mut details = serde_json::Map::new();
        match kind {
            "LOGIN" => {
                details.insert("auth_method".into(), "openid-connect".into());
                if let Some(u) = &user {
                    details.insert("username".into(), u.as_str().into());
                }
            }
            "REFRESH_TOKEN" => {
                details.insert("grant_type".into(), "refresh_token".into());
            }
            _ => {}
        }
        if let Some(i) = integration {
            details.insert("integration".into(), i.into());
        }
        event.insert("details".into(), details.into());
        serde_json::Value::Object(event).to_string()
    }
}

/// One delivery as a line of [`NGINX_LOG_FORMAT`].
pub fn nginx_line(row: &Row) -> String {
    let k = LogKind::Deliveries;
    let v = |name: &str| &row[k.col(name)];
    let ms = match v("ts") {
        Val::Ts(ms) => *ms,
        other => panic!("a delivery's time is {other:?}"),
    };
    let session = text(v("session_id")).unwrap_or_default();
    let kind = text(v("kind")).unwrap_or("still");
    let suffix = match kind {
        "still" => ".jpg",
        "clip" => ".mp4",
        "segment" => "/live.ts",
        "page" => "/dashboard",
        _ => "",
    };
    let request = format!(
        "GET /cam/{}/{kind}{suffix} HTTP/1.1",
        text(v("requested_stream_id")).unwrap_or_default()
    );
    let status = match text(v("cache_status")) {
        Some("hit") => "HIT",
        Some("miss") => "MISS",
        _ => "BYPASS",
    };
    let num = |name: &str| match v(name) {
        Val::Int(i) | Val::Ts(i) => Some(i.to_string()),
        Val::Num(f) => Some(f.to_string()),
        Val::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    let mut line = String::with_capacity(360);
    line.push_str(&address(session));
    line.push_str(" - - [");
    push_clf(&mut line, ms);
    line.push_str("] \"");
    push_var(&mut line, Some(&request));
    line.push_str("\" 200 ");
    push_var(&mut line, num("bytes").as_deref());
    line.push_str(" \"-\" \"");
    push_var(&mut line, text(v("app_version")));
    line.push_str(&format!(
        "\" {}.{:03} ",
        ms.div_euclid(1000),
        ms.rem_euclid(1000)
    ));
    push_var(&mut line, text(v("request_id")));
    line.push(' ');
    push_var(&mut line, text(v("cache_node")));
    line.push(' ');
    push_var(&mut line, text(v("server")));
    line.push(' ');
    line.push_str(status);
    line.push_str(" \"");
    push_var(&mut line, text(v("cache_key")));
    line.push_str("\" \"");
    push_var(&mut line, Some(session));
    line.push_str("\" ");
    push_var(&mut line, text(v("object_id")));
    line.push(' ');
    push_var(&mut line, text(v("origin_stream_id")));
    line.push(' ');
    push_var(&mut line, num("captured_at").as_deref());
    line.push(' ');
    push_var(&mut line, num("viewed").as_deref());
    line.push(' ');
    push_var(&mut line, num("rtt_ms").as_deref());
    line.push(' ');
    push_var(&mut line, num("loss_pct").as_deref());
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delivery() -> Row {
        vec![
            Val::Ts(1_577_664_015_042),
            Val::text("sess-0000042"),
            Val::text("cam-0000007"),
            Val::text("edge-eu-1"),
            Val::text("still//lq"),
            Val::Enum("miss"),
            Val::text("req-0000000001"),
            Val::text("img-0000000003"),
            Val::text("cam-0000007"),
            Val::Ts(1_577_664_014_000),
            Val::text("still"),
            Val::Int(23_456),
            Val::Null,
            Val::text("stream-eu-1"),
            Val::Int(412),
            Val::Num(2.5),
            Val::text("gh \"1.52\""),
        ]
    }

    #[test]
    fn a_delivery_is_one_nginx_line_in_the_declared_format() {
        let line = nginx_line(&delivery());
        assert_eq!(
            line,
            format!(
                "{} - - [30/Dec/2019:00:00:15 +0000] \"GET /cam/cam-0000007/still.jpg HTTP/1.1\" 200 23456 \"-\" \"gh \\x221.52\\x22\" 1577664015.042 req-0000000001 edge-eu-1 stream-eu-1 MISS \"still//lq\" \"sess-0000042\" img-0000000003 cam-0000007 1577664014000 - 412 2.5",
                address("sess-0000042")
            )
        );
    }

    #[test]
    fn a_second_start_as_the_same_account_is_a_refresh_and_another_account_a_login() {
        let mut forms = RealForms::default();
        let row = |ts: i64, event: &'static str, acct: Option<&str>| -> Row {
            vec![
                Val::Ts(ts),
                Val::text("sess-1"),
                Val::Enum(event),
                Val::opt_text(acct.map(str::to_string)),
                Val::text("nest_hub"),
                Val::text("google_home"),
            ]
        };
        let types: Vec<String> = [
            row(1, "start", Some("acct-1")),
            row(2, "start", Some("acct-1")),
            row(3, "start", Some("acct-2")),
            row(4, "end", None),
            row(5, "start", Some("acct-2")),
        ]
        .iter()
        .map(|r| {
            let v: serde_json::Value =
                serde_json::from_str(&forms.line(LogKind::Sessions, r).unwrap()).unwrap();
            assert_eq!(v["details"]["integration"], "google_home");
            format!("{} {}", v["type"], v["userId"])
        })
        .collect();
        assert_eq!(
            types,
            [
                "\"LOGIN\" \"acct-1\"",
                "\"REFRESH_TOKEN\" \"acct-1\"",
                "\"LOGIN\" \"acct-2\"",
                "\"LOGOUT\" \"acct-2\"",
                "\"LOGIN\" \"acct-2\"",
            ]
        );
    }
}
