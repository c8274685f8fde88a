"""Self-contained HTML pages every report uses: one inline style sheet, tables, embedded images.

Images are embedded as base64 ``data:`` URIs and the style sheet is inline, so the pages read offline and
can be mailed as files.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1200px;margin:1.5em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#0a7d28;font-weight:bold}.no{color:#b00020;font-weight:bold}
img{max-width:100%;height:auto;border:1px solid #eee}
p.what{color:#444;font-size:.95em;max-width:60em}nav a{margin-right:1em}
"""


def embed_png(path: str | Path) -> str:
    """``data:image/png;base64,...`` URI of a PNG file."""
    data = Path(path).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def escape_html(value: Any) -> str:
    """``value`` as text safe inside HTML (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def fmt(value: Any, percent: bool = False, digits: int = 3) -> str:
    """A table cell's text: ``n/a`` for missing values, ``yes``/``no``, a percentage or ``digits`` decimals."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{100 * value:.1f}%" if percent else (f"{value:.{digits}f}" if isinstance(value, float) else str(value))
    return str(value)


def fmt_small(value: Any, digits: int = 2) -> str:
    """A p-, q- or E-value's text: ``digits`` significant digits, scientific below 0.001 (``3.1e-05``),
    so a small value never reads ``0.000``; ``n/a`` for missing values."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if v == 0:
        return "0"
    return f"{v:.{digits}e}" if abs(v) < 1e-3 else f"{v:.{digits}g}"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[tuple[str, str]],
          percent: Sequence[str] = (), small: Sequence[str] = (), raw: Sequence[str] = ()) -> str:
    """An HTML table of ``rows`` with ``columns`` = (key, header); numbers right-aligned.

    Columns in ``percent`` show percentages, in ``small`` p-, q- or E-values (:func:`fmt_small`), in
    ``raw`` trusted HTML (an ``<img>`` the caller built) as it is.
    """
    head = "".join(f"<th>{escape_html(h)}</th>" for _, h in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            v = row.get(key)
            if key in raw:
                cells.append(f"<td>{v if v is not None else ''}</td>")
            elif key in small and (isinstance(v, (int, float)) and not isinstance(v, bool) or v is None):
                cells.append(f'<td class="num">{escape_html(fmt_small(v))}</td>')
            elif key == "holds":
                cls = "ok" if v else "no"
                cells.append(f'<td class="{cls}">{"yes" if v else "no"}</td>')
            elif isinstance(v, (int, float)) and not isinstance(v, bool) or v is None:
                cells.append(f'<td class="num">{escape_html(fmt(v, key in percent))}</td>')
            else:
                cells.append(f"<td>{escape_html(fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def page(title: str, body: str, nav: str = "") -> str:
    """A complete HTML document (inline style, no external resources)."""
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape_html(title)}</title><style>{STYLE}</style></head>"
            f"<body><nav>{nav}</nav><h1>{escape_html(title)}</h1>{body}</body></html>\n")
