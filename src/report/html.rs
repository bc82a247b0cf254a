//! HTML rendering of the report document (`report.html`): one self-contained page, charts inlined as SVG, every string escaped.

use std::fmt::Write as _;

use super::document::{Block, Document, Inline, Table};
use super::escape::html;

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;max-width:1180px;margin:2em auto;padding:0 1em;color:#1a1a1a;line-height:1.45}
h1{border-bottom:3px solid #c82828;padding-bottom:.3em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}th,td{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}
th{background:#f2f2f2;text-align:left}td:first-child{white-space:nowrap}td.n{text-align:right;font-variant-numeric:tabular-nums}
code{background:#f4f4f4;padding:0 .2em;border-radius:3px;word-break:break-all}
.callout{border-left:4px solid #d08000;background:#fff6e5;padding:.6em 1em;margin:1em 0}
.field{border:1px dashed #888;background:#fafafa;padding:.6em 1em;margin:1em 0}.field em{color:#666}
figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}
nav ul{columns:2;list-style:none;padding-left:0}";

fn inline(out: &mut String, parts: &[Inline]) {
    for p in parts {
        match p {
            Inline::Text(t) => out.push_str(&html(t)),
            Inline::Code(c) => {
                let _ = write!(out, "<code>{}</code>", html(c));
            }
            Inline::Strong(t) => {
                let _ = write!(out, "<strong>{}</strong>", html(t));
            }
        }
    }
}

fn table(out: &mut String, t: &Table) {
    out.push_str("<table>\n<thead><tr>");
    for h in &t.head {
        let _ = write!(out, "<th>{}</th>", html(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in &t.rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            out.push_str(if t.numeric.get(i).copied().unwrap_or(false) {
                "<td class=\"n\">"
            } else {
                "<td>"
            });
            inline(out, c);
            out.push_str("</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n");
}

/// Keeps only what an SVG from our chart code can hold: refuses anything scriptable.
fn safe_svg(svg: &str) -> Option<&str> {
    let lower = svg.to_ascii_lowercase();
    let bad = [
        "<script",
        "<foreignobject",
        "javascript:",
        "<iframe",
        "href=",
    ];
    let handler = lower.match_indices(" on").any(|(i, _)| {
        let rest = &lower[i + 3..];
        let name = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        name > 0 && rest[name..].trim_start().starts_with('=')
    });
    (lower.trim_start().starts_with("<svg") && !handler && !bad.iter().any(|b| lower.contains(b)))
        .then_some(svg)
}

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\n<title>{}</title>\n<style>\n{STYLE}\n</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        html(&doc.title),
        html(&doc.title)
    );
    out.push_str("<nav><ul>\n");
    for (text, anchor) in doc.sections() {
        let _ = writeln!(
            out,
            "<li><a href=\"#{}\">{}</a></li>",
            html(anchor),
            html(text)
        );
    }
    out.push_str("</ul></nav>\n");
    for b in &doc.blocks {
        match b {
            Block::Heading {
                level,
                text,
                anchor,
            } => {
                let _ = writeln!(
                    out,
                    "<h{level} id=\"{}\">{}</h{level}>",
                    html(anchor),
                    html(text)
                );
            }
            Block::Para(p) => {
                out.push_str("<p>");
                inline(&mut out, p);
                out.push_str("</p>\n");
            }
            Block::Callout(p) => {
                out.push_str("<div class=\"callout\"><strong>Note:</strong> ");
                inline(&mut out, p);
                out.push_str("</div>\n");
            }
            Block::Bullets(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    out.push_str("<li>");
                    inline(&mut out, i);
                    out.push_str("</li>\n");
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => table(&mut out, t),
            Block::Chart(c) => {
                out.push_str("<figure>\n");
                match safe_svg(&c.svg) {
                    Some(svg) => out.push_str(svg),
                    None => out.push_str("<p>(chart withheld: unexpected content)</p>"),
                }
                let _ = writeln!(
                    out,
                    "\n<figcaption>{}</figcaption>\n</figure>",
                    html(&c.title)
                );
            }
            Block::Field { label, hint } => {
                let _ = writeln!(
                    out,
                    "<div class=\"field\"><strong>{}:</strong> <em>[to be completed: {}]</em></div>",
                    html(label),
                    html(hint)
                );
            }
        }
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::document::{code, para, table as tbl, Chart};

    #[test]
    fn every_string_is_escaped() {
        let doc = Document {
            title: "<b>t</b>".into(),
            blocks: vec![
                para(vec![code("<script>alert(1)</script>")]),
                tbl(
                    &["a<"],
                    vec![vec![vec![code("\"><img src=x onerror=alert(1)>")]]],
                ),
            ],
        };
        let h = render(&doc);
        assert!(!h.contains("<script>alert"));
        assert!(!h.contains("<img"));
        assert!(h.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(h.contains("<title>&lt;b&gt;t&lt;/b&gt;</title>"));
    }

    #[test]
    fn scriptable_svg_is_withheld() {
        let doc = Document {
            title: "t".into(),
            blocks: vec![Block::Chart(Chart {
                file: "x.svg".into(),
                title: "x".into(),
                svg: "<svg><script>alert(1)</script></svg>".into(),
            })],
        };
        assert!(render(&doc).contains("chart withheld"));
        assert!(safe_svg("<svg><rect onload = \"x\"/></svg>").is_none());
        assert!(safe_svg("<svg><text>only one</text></svg>").is_some());
    }
}
