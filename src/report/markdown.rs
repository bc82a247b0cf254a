//! Markdown rendering of the report document (`report.md`); every string is escaped on the way out.

use std::fmt::Write as _;

use super::document::{Block, Document, Inline, Table};
use super::escape::{md_code, md_text};

fn inline(parts: &[Inline]) -> String {
    let mut s = String::new();
    for p in parts {
        match p {
            Inline::Text(t) => s.push_str(&md_text(t)),
            Inline::Code(c) => s.push_str(&md_code(c)),
            Inline::Strong(t) => {
                let _ = write!(s, "**{}**", md_text(t));
            }
        }
    }
    s
}

fn table(out: &mut String, t: &Table) {
    let head: Vec<String> = t.head.iter().map(|h| md_text(h)).collect();
    let _ = writeln!(out, "| {} |", head.join(" | "));
    let rule: Vec<&str> = t
        .numeric
        .iter()
        .map(|&n| if n { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "| {} |", rule.join(" | "));
    for row in &t.rows {
        let cells: Vec<String> = row.iter().map(|c| inline(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

pub fn render(doc: &Document) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", md_text(&doc.title));
    for b in &doc.blocks {
        match b {
            Block::Heading { level, text, .. } => {
                let _ = writeln!(out, "{} {}\n", "#".repeat(*level as usize), md_text(text));
            }
            Block::Para(p) => {
                let _ = writeln!(out, "{}\n", inline(p));
            }
            Block::Callout(p) => {
                let _ = writeln!(out, "> **Note:** {}\n", inline(p));
            }
            Block::Bullets(items) => {
                for i in items {
                    let _ = writeln!(out, "- {}", inline(i));
                }
                out.push('\n');
            }
            Block::Table(t) => {
                table(&mut out, t);
                out.push('\n');
            }
            Block::Chart(c) => {
                let _ = writeln!(out, "![{}](charts/{})\n", md_text(&c.title), c.file);
            }
            Block::Field { label, hint } => {
                let _ = writeln!(
                    out,
                    "**{}:** _[to be completed: {}]_\n",
                    md_text(label),
                    md_text(hint)
                );
            }
        }
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    out
}
