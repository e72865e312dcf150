"""Render a `Report` as Markdown (images as relative links) and as one self-contained HTML page
(styles inline, images embedded as data URIs, no scripts, nothing fetched)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from tritter.report.build import Report, Table

STATUS_WORDS = {"met": ("good", "✅ met"), "not met": ("bad", "❌ not met"),
                "incomplete": ("bad", "⚠️ incomplete")}  # fmt: skip


def _md_cell(text: str) -> str:
    text = STATUS_WORDS.get(str(text), ("", str(text)))[1]
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(table: Table) -> list[str]:
    lines = [f"**{table.caption}**", ""] if table.caption else []
    lines.append("| " + " | ".join(_md_cell(h) for h in table.headers) + " |")
    lines.append("|" + "|".join("---" for _ in table.headers) + "|")
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in table.rows]
    return [*lines, ""]


def markdown(report: Report) -> str:
    lines = [f"# {report.title}", "", f"_{report.subtitle}_", ""]
    lines += ["| " + " | ".join(_md_cell(c.label) for c in report.cards) + " |"]
    lines += ["|" + "|".join("---" for _ in report.cards) + "|"]
    lines += ["| " + " | ".join(_md_cell(c.value) for c in report.cards) + " |", ""]
    for section in report.sections:
        lines += [f"## {section.title}", ""]
        for paragraph in section.text:
            lines += [paragraph, ""]
        for table in section.tables:
            lines += _md_table(table)
        for name, caption in section.images:
            lines += [f"![{caption}]({name})", ""]
        if section.details:
            summary, text = section.details
            lines += [f"<details><summary>{summary}</summary>", "", "```yaml", text.rstrip(),
                      "```", "", "</details>", ""]  # fmt: skip
    return "\n".join(lines).rstrip() + "\n"


_STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d232b;
       margin: 0; background: #f4f6f8; }
header { background: #14213d; color: #fff; padding: 22px 32px 18px; }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 0; color: #c8d1e0; font-size: 13px; word-break: break-all; }
nav { padding: 8px 32px; background: #e5e9f0; font-size: 13px; }
nav a { margin-right: 16px; color: #14213d; text-decoration: none; font-weight: 600; }
main { padding: 20px 32px 40px; max-width: 1200px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(128px, 1fr)); gap: 10px;
         margin-bottom: 22px; }
.card { background: #fff; border-radius: 8px; padding: 12px 14px; border-left: 5px solid #8a99ad;
        box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card.good { border-left-color: #2b9348; } .card.bad { border-left-color: #d00000; }
.card .label { font-size: 12px; color: #5c6b7f; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 21px; font-weight: 650; margin-top: 2px; white-space: nowrap;
               overflow: hidden; text-overflow: ellipsis; }
section { background: #fff; border-radius: 8px; padding: 6px 22px 16px; margin-bottom: 18px;
          box-shadow: 0 1px 2px rgba(0,0,0,.08); }
section h2 { font-size: 19px; border-bottom: 1px solid #e1e6ee; padding-bottom: 6px; }
.tables { display: flex; flex-wrap: wrap; gap: 8px 28px; align-items: flex-start; }
table { border-collapse: collapse; margin: 4px 0 14px; font-size: 13.5px; }
caption { text-align: left; font-weight: 600; padding: 4px 0 6px; color: #34404f; }
th, td { padding: 4px 12px 4px 0; text-align: left; border-bottom: 1px solid #edf0f4;
         vertical-align: top; max-width: 520px; overflow-wrap: anywhere; }
th { color: #5c6b7f; font-weight: 600; border-bottom: 2px solid #d5dbe4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 10px 0 16px; } figure img { max-width: 100%; border: 1px solid #e1e6ee; }
.pill { display: inline-block; padding: 0 8px; border-radius: 9px; font-size: 12px;
        font-weight: 600; } .pill.good { background: #d8f3dc; color: #1b5e20; }
.pill.bad { background: #ffe0e0; color: #9d0208; }
figcaption { font-size: 13px; color: #5c6b7f; }
details pre { background: #f6f8fa; padding: 10px; overflow: auto; font-size: 12.5px;
              max-height: 420px; }
footer { color: #7a8799; font-size: 12px; padding: 0 32px 24px; }
"""


def _is_number(text: str) -> bool:
    stripped = text.replace(",", "").replace("%", "").replace(" ", "").rstrip("kMGT")
    try:
        float(stripped)
    except ValueError:
        return False
    return True


def _html_table(table: Table) -> str:
    esc = html.escape
    parts = ["<table>"]
    if table.caption:
        parts.append(f"<caption>{esc(table.caption)}</caption>")
    parts.append("<tr>" + "".join(f"<th>{esc(h)}</th>" for h in table.headers) + "</tr>")
    for row in table.rows:
        cells = []
        for cell in row:
            text = str(cell)
            if text in STATUS_WORDS:  # coloured pills: emoji fonts are not a given
                cells.append(
                    f'<td><span class="pill {STATUS_WORDS[text][0]}">{esc(text)}</span></td>'
                )
                continue
            css = ' class="num"' if _is_number(text) else ""
            cells.append(f"<td{css}>{esc(text)}</td>")
        parts.append("<tr>" + "".join(cells) + "</tr>")
    parts.append("</table>")
    return "".join(parts)


def html_page(report: Report, images: Path) -> str:
    """The page; `images` is the folder holding the section PNGs (embedded as data URIs)."""
    esc = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(report.title)}</title><style>{_STYLE}</style></head><body>",
        f"<header><h1>{esc(report.title)}</h1><p>{esc(report.subtitle)}</p></header>",
        "<nav>" + "".join(
            f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in report.sections
        ) + "</nav>",
        '<main><div class="cards">',
    ]  # fmt: skip
    for card in report.cards:
        css = f" {card.status}" if card.status else ""
        out.append(
            f'<div class="card{css}"><div class="label">{esc(card.label)}</div>'
            f'<div class="value" title="{esc(card.value)}">{esc(card.value)}</div></div>'
        )
    out.append("</div>")
    for section in report.sections:
        out.append(f'<section id="{esc(section.anchor)}"><h2>{esc(section.title)}</h2>')
        out += [f"<p>{esc(paragraph)}</p>" for paragraph in section.text]
        if section.tables:
            out.append('<div class="tables">')
            out += [_html_table(table) for table in section.tables]
            out.append("</div>")
        for name, caption in section.images:
            encoded = base64.b64encode((images / name).read_bytes()).decode("ascii")
            out.append(
                f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{encoded}">'
                f"<figcaption>{esc(caption)}</figcaption></figure>"
            )
        if section.details:
            summary, text = section.details
            out.append(
                f"<details><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>"
            )
        out.append("</section>")
    out.append("</main><footer>Generated by <code>tritter report</code>.</footer></body></html>")
    return "\n".join(out) + "\n"
