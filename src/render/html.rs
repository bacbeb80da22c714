//! `index.html`: the summary as one self-contained page. The plots are inline (PNG data
//! URIs), the style sheet is inline, and there is no script and no external reference, so
//! the file reads the same with no network access, attached to a CI run or sent by mail.

use std::fmt::Write as _;

use base64::Engine as _;

use super::summary::Block;
use crate::report::Report;

const STYLE: &str = r#"
body { font-family: "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 1340px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 26px; margin: 8px 0 12px; }
h2 { font-size: 20px; margin: 32px 0 10px; padding-bottom: 4px; border-bottom: 1px solid #d0d7de; }
p { line-height: 1.5; margin: 8px 0; }
code { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 90%; background: #eff1f3; padding: 1px 4px; border-radius: 4px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: 10px 0 14px; font-size: 14px; }
th, td { border: 1px solid #d0d7de; padding: 5px 9px; vertical-align: top; }
th { background: #f0f3f6; text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafbfc; }
td.pass { color: #1a7f37; font-weight: bold; }
td.fail { color: #cf222e; font-weight: bold; }
td.nodata { color: #9a6700; font-weight: bold; }
figure { margin: 16px 0 28px; }
figure img { width: 100%; max-width: 1280px; border: 1px solid #d0d7de; }
figcaption { color: #57606a; font-size: 14px; margin-top: 4px; }
footer { color: #57606a; font-size: 13px; margin-top: 40px; }
"#;

/// The page for `report` and its summary `doc`; `png` returns the bytes of a plot by its
/// relative path (`None`: the page says the plot is missing).
pub fn page(report: &Report, doc: &[Block], png: &dyn Fn(&str) -> Option<Vec<u8>>) -> String {
    let mut out = String::new();
    let title = format!("aftershock: {} ({})", report.scenario_name, report.run_id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
        escape(&title)
    );
    for b in doc {
        match b {
            Block::Heading(level, text) => {
                let _ = writeln!(out, "<h{level}>{}</h{level}>", inline(text));
            }
            Block::Para(text) => {
                let _ = writeln!(out, "<p>{}</p>", inline(text));
            }
            Block::List(items) => {
                out.push_str("<ul>\n");
                for i in items {
                    let _ = writeln!(out, "<li>{}</li>", inline(i));
                }
                out.push_str("</ul>\n");
            }
            Block::Table(t) => {
                out.push_str("<div class=\"scroll\"><table>\n<thead><tr>");
                for (i, h) in t.header.iter().enumerate() {
                    let class = if t.right.get(i).copied().unwrap_or(false) { " class=\"num\"" } else { "" };
                    let _ = write!(out, "<th{class}>{}</th>", inline(h));
                }
                out.push_str("</tr></thead>\n<tbody>\n");
                for row in &t.rows {
                    out.push_str("<tr>");
                    for (i, c) in row.iter().enumerate() {
                        let class = if c.contains("✅") {
                            " class=\"pass\""
                        } else if c.contains("❌") {
                            " class=\"fail\""
                        } else if c.contains("⚠️") {
                            " class=\"nodata\""
                        } else if t.right.get(i).copied().unwrap_or(false) {
                            " class=\"num\""
                        } else {
                            ""
                        };
                        // NB: emoji fonts are rarely installed where reports are read
                        // offline (CI, servers); the page uses plain symbols and colour.
                        let c = c.replace("✅", "✓").replace("❌", "✗").replace("⚠️", "⚠");
                        let _ = write!(out, "<td{class}>{}</td>", inline(&c));
                    }
                    out.push_str("</tr>\n");
                }
                out.push_str("</tbody>\n</table></div>\n");
            }
            Block::Image { title, path } => match png(path) {
                Some(bytes) => {
                    let data = base64::engine::general_purpose::STANDARD.encode(bytes);
                    let _ = writeln!(
                        out,
                        "<figure><img alt=\"{}\" src=\"data:image/png;base64,{data}\"><figcaption>{} (also as <code>{}</code> and SVG next to this file)</figcaption></figure>",
                        escape(title),
                        escape(title),
                        escape(path)
                    );
                }
                None => {
                    let _ = writeln!(
                        out,
                        "<p><strong>{}</strong>: the plot is missing ({}).</p>",
                        escape(title),
                        escape(path)
                    );
                }
            },
        }
    }
    let _ = writeln!(
        out,
        "<footer>Rendered by aftershock from <code>report.json</code> (schema version {}) alone; <code>aftershock report RUN_DIR</code> renders it again.</footer>",
        report.schema_version
    );
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

/// Escapes text for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes `s` and turns the summary's inline markup (`` `code` ``, `**bold**`) into HTML.
fn inline(s: &str) -> String {
    let mut out = String::new();
    let mut code = false;
    let mut bold = false;
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('`') {
            out.push_str(if code { "</code>" } else { "<code>" });
            code = !code;
            rest = r;
        } else if let (false, Some(r)) = (code, rest.strip_prefix("**")) {
            out.push_str(if bold { "</strong>" } else { "<strong>" });
            bold = !bold;
            rest = r;
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            out.push_str(&escape(&c.to_string()));
            rest = &rest[c.len_utf8()..];
        }
    }
    if code {
        out.push_str("</code>");
    }
    if bold {
        out.push_str("</strong>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_markup_is_escaped_and_converted() {
        assert_eq!(
            inline("run `a<b>` is **done** & ok"),
            "run <code>a&lt;b&gt;</code> is <strong>done</strong> &amp; ok"
        );
        assert_eq!(inline("`**not bold**`"), "<code>**not bold**</code>");
        assert_eq!(inline("unclosed `x"), "unclosed <code>x</code>");
    }
}
