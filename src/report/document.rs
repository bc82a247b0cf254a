//! The report as a document model: sections of headings, paragraphs, tables and charts, rendered alike to Markdown and HTML.
//!
//! Builders put raw strings in; only the renderers escape, so no string can reach
//! an output unescaped, and the two reports always say the same thing.

/// A run of text inside a paragraph or table cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    /// Prose (ours or from a log).
    Text(String),
    /// An identifier or value from a log, shown as code.
    Code(String),
    Strong(String),
}

pub type Cell = Vec<Inline>;

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub head: Vec<String>,
    /// Columns to align right (numbers).
    pub numeric: Vec<bool>,
    pub rows: Vec<Vec<Cell>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    /// File name under `charts/`, which the Markdown links to.
    pub file: String,
    pub title: String,
    /// The SVG, inlined in the HTML.
    pub svg: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Heading {
        level: u8,
        text: String,
        anchor: String,
    },
    Para(Vec<Inline>),
    /// A warning the reader must not miss (lower bounds, thresholds).
    Callout(Vec<Inline>),
    Bullets(Vec<Vec<Inline>>),
    Table(Table),
    Chart(Chart),
    /// A fact the user has to supply (compliance fields).
    Field {
        label: String,
        hint: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Document {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Document {
    pub fn charts(&self) -> impl Iterator<Item = &Chart> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Chart(c) => Some(c),
            _ => None,
        })
    }

    /// The level-2 headings, for a table of contents.
    pub fn sections(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Heading {
                level: 2,
                text,
                anchor,
            } => Some((text.as_str(), anchor.as_str())),
            _ => None,
        })
    }
}

/// Shorthands for building blocks.
pub fn text(s: impl Into<String>) -> Inline {
    Inline::Text(s.into())
}

pub fn code(s: impl Into<String>) -> Inline {
    Inline::Code(s.into())
}

pub fn strong(s: impl Into<String>) -> Inline {
    Inline::Strong(s.into())
}

pub fn heading(level: u8, s: &str, anchor: &str) -> Block {
    Block::Heading {
        level,
        text: s.to_string(),
        anchor: anchor.to_string(),
    }
}

pub fn para(parts: Vec<Inline>) -> Block {
    Block::Para(parts)
}

pub fn plain(s: impl Into<String>) -> Block {
    Block::Para(vec![text(s)])
}

/// A table from its header (a leading `>` marks a numeric column) and rows.
pub fn table(head: &[&str], rows: Vec<Vec<Cell>>) -> Block {
    Block::Table(Table {
        head: head
            .iter()
            .map(|h| h.trim_start_matches('>').to_string())
            .collect(),
        numeric: head.iter().map(|h| h.starts_with('>')).collect(),
        rows,
    })
}

/// A cell of our own text, usually a number.
pub fn num(v: impl ToString) -> Cell {
    vec![text(v.to_string())]
}

/// A cell holding a value from a log.
pub fn id(v: &str) -> Cell {
    vec![code(v)]
}
