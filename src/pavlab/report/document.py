"""A report as data (sections of paragraphs, tables, images, code), rendered to Markdown and HTML.

Why a tiny document model instead of Markdown-to-HTML conversion: both renderings come from
the same content, the HTML embeds its PNGs (one file a user can open or mail), and no extra
dependency is needed.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path
    caption: str


@dataclass
class Code:
    text: str


@dataclass
class Markdown:
    """A section another module already wrote as Markdown (headings, tables, paragraphs)."""

    text: str


Block = str | Table | Image | Code | Markdown


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    sections: list[Section]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(doc: Document, base: Path) -> str:
    """Markdown with image links relative to `base` (the folder the .md file lives in)."""
    lines = [f"# {doc.title}", ""]
    for section in doc.sections:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Table):
                lines.append("| " + " | ".join(_md_cell(h) for h in block.header) + " |")
                lines.append("|" + "---|" * len(block.header))
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows]
            elif isinstance(block, Image):
                image = Path(block.path).resolve()
                rel = image.relative_to(base.resolve()) if image.is_relative_to(base.resolve()) else image
                lines.append(f"![{block.caption}]({rel.as_posix()})")
            elif isinstance(block, Code):
                lines += ["```bash", block.text.rstrip(), "```"]
            elif isinstance(block, Markdown):
                lines.append(_demote_headings(block.text))
            else:
                lines.append(block)
            lines.append("")
    return "\n".join(lines)


def to_html(doc: Document) -> str:
    """A standalone HTML page; PNGs are embedded as data URIs."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(doc.title)}</title>",
             "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.25em .6em}"
             "th{background:#eee}img{max-width:100%}pre{background:#f4f4f4;padding:.6em;overflow-x:auto}</style>",
             f"</head><body><h1>{html.escape(doc.title)}</h1>"]
    for section in doc.sections:
        parts.append(f"<h2>{html.escape(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Table):
                head = "".join(f"<th>{html.escape(str(h))}</th>" for h in block.header)
                body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
                               for row in block.rows)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(block, Image):
                data = base64.b64encode(Path(block.path).read_bytes()).decode()
                parts.append(f"<figure><img alt='{html.escape(block.caption)}' src='data:image/png;base64,{data}'>"
                             f"<figcaption>{html.escape(block.caption)}</figcaption></figure>")
            elif isinstance(block, Code):
                parts.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
            elif isinstance(block, Markdown):
                parts.append(markdown_to_html(_demote_headings(block.text)))
            else:
                parts.append(f"<p>{html.escape(block)}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _demote_headings(text: str) -> str:
    """Nest an embedded section's headings under the report's own `##` sections."""
    return "\n".join("#" + line if line.startswith("#") else line for line in text.rstrip().splitlines())


def _inline(text: str) -> str:
    """Escape, then render `code` spans: the only inline markup pavlab's sections use."""
    pieces = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(pieces))


def markdown_to_html(text: str) -> str:
    """The Markdown subset pavlab writes: headings, pipe tables, bullet lines and paragraphs."""
    out: list[str] = []
    table: list[list[str]] = []

    def flush_table() -> None:
        if table:
            head, *body = table
            out.append("<table><thead><tr>" + "".join(f"<th>{_inline(c)}</th>" for c in head) + "</tr></thead><tbody>"
                       + "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in row) + "</tr>" for row in body)
                       + "</tbody></table>")
            table.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(set(c) <= set("-: ") for c in cells):
                table.append(cells)
            continue
        flush_table()
        if stripped.startswith("#"):
            level = min(6, len(stripped) - len(stripped.lstrip("#")))
            out.append(f"<h{level}>{_inline(stripped.lstrip('#').strip())}</h{level}>")
        elif stripped.startswith(("- ", "* ")):
            out.append(f"<ul><li>{_inline(stripped[2:])}</li></ul>")
        elif stripped:
            out.append(f"<p>{_inline(stripped)}</p>")
    flush_table()
    return "\n".join(out)
