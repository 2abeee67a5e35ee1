"""Self-contained HTML pages (report.html, compare.html): tables, embedded PNGs, one style
that reads at 1280 px and on paper."""

import base64
import html
from pathlib import Path

STYLE = ("body{font-family:sans-serif;max-width:60em;margin:auto;padding:0 1em;line-height:1.4}"
         "table{border-collapse:collapse;margin:0.5em 0}"
         "td,th{border:1px solid #ccc;padding:2px 8px;text-align:right}"
         "td:first-child,th:first-child{text-align:left}th{background:#f4f4f4}"
         "img{max-width:100%}figcaption{font-size:0.9em;color:#444}")


def html_table(header, rows):
    """A table of text cells (escaped), ``header`` first."""
    head = "".join(f"<th>{html.escape(str(cell))}</th>" for cell in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row)
                   + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def image_html(path, caption):
    """The PNG at ``path`` embedded (base64), with its caption."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def html_page(title, sections):
    """A page of ``(heading, html)`` sections under ``title``."""
    body = "".join(f"<h2>{html.escape(heading)}</h2>{content}" for heading, content in sections)
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
            f"content=\"width=device-width\"><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
            "</body></html>")


def replace_section(page, heading, content):
    """``page`` with the content under its ``<h2>heading</h2>`` (up to the next section)
    replaced by ``content``; unchanged if it has no such section."""
    start = page.find(f"<h2>{html.escape(heading)}</h2>")
    if start < 0:
        return page
    start += len(f"<h2>{html.escape(heading)}</h2>")
    end = page.find("<h2>", start)
    end = page.find("</body>", start) if end < 0 else end
    return page[:start] + content + page[end:]
