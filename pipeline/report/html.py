"""HTML building blocks for the single-file reports: escaping, number formats, tables, the page.

Everything is escaped unless wrapped in `Markup`; the page has inline CSS and no JavaScript, so
it opens offline in any browser and makes no requests.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime


class Markup(str):
    """A string that is already HTML (not escaped again)."""


def esc(value: object) -> str:
    return value if isinstance(value, Markup) else html.escape(str(value), quote=True)


def fmt_int(n: float | int | None) -> str:
    return "–" if n is None else f"{int(round(n)):,}"


def fmt_pct(part: float, whole: float) -> str:
    return "–" if not whole else f"{100.0 * part / whole:.2f}%"


def fmt_num(x: float | int | None, digits: int = 4) -> str:
    """Compact number: integers as integers, others with `digits` significant digits."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, int) or float(x).is_integer() and abs(x) < 1e15:
        return f"{int(x):,}"
    return f"{x:.{digits}g}"


def fmt_seconds(s: float) -> str:
    return f"{s:.2f} s" if s < 120 else f"{s / 60:.1f} min"


def fmt_si(x: float, unit: str = "") -> str:
    """1.23 B, 4.5 T ... (short scale)."""
    for factor, suffix in ((1e15, " Q"), (1e12, " T"), (1e9, " B"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= factor:
            return f"{x / factor:.3g}{suffix}{unit}"
    return f"{x:.3g}{' ' + unit if unit else ''}"


def fmt_sci(x: float) -> str:
    mantissa, exponent = f"{x:.3e}".split("e")
    return Markup(f"{esc(mantissa)}&times;10<sup>{int(exponent)}</sup>")


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], numeric: Sequence[int] = (),
          row_attrs: Sequence[dict[str, object]] | None = None, caption: str = "", css_class: str = "") -> Markup:
    """A table; columns whose index is in `numeric` are right-aligned."""
    num = set(numeric)
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in num else f"<th>{esc(h)}</th>" for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        attrs = ""
        if row_attrs is not None:
            attrs = "".join(f' {esc(k)}="{esc(v)}"' for k, v in row_attrs[r].items())
        cells = "".join(f'<td class="num">{esc(c)}</td>' if i in num else f"<td>{esc(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr{attrs}>{cells}</tr>")
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    cls = f' class="{esc(css_class)}"' if css_class else ""
    return Markup(f"<table{cls}>{cap}<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def para(text: str) -> Markup:
    return Markup(f"<p>{esc(text)}</p>")


def note(text: str) -> Markup:
    return Markup(f'<p class="note">{esc(text)}</p>')


def figure(svg: str, caption: str = "") -> Markup:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return Markup(f'<figure class="plot">{svg}{cap}</figure>')


def pre(text: str) -> Markup:
    return Markup(f"<pre>{esc(text)}</pre>")


@dataclass
class Section:
    anchor: str
    title: str
    body: list[str]


STYLE = """
:root { --fg:#1d232b; --muted:#5b6672; --line:#d8dee6; --bg:#ffffff; --band:#f4f6f9; --accent:#1f5fa8; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; color: var(--fg);
       background: var(--bg); margin: 0; }
header { background: #17324f; color: #fff; padding: 18px 32px; }
header h1 { margin: 0 0 4px 0; font-size: 22px; }
header p { margin: 0; color: #c9d6e4; }
nav { position: sticky; top: 0; background: var(--band); border-bottom: 1px solid var(--line); padding: 6px 32px;
      font-size: 13px; z-index: 1; }
nav a { color: var(--accent); margin-right: 14px; text-decoration: none; white-space: nowrap; }
main { padding: 8px 32px 48px; max-width: 1280px; }
section { border-bottom: 1px solid var(--line); padding: 10px 0 18px; }
h2 { font-size: 18px; margin: 14px 0 8px; }
h3 { font-size: 15px; margin: 14px 0 6px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-size: 13px; }
caption { text-align: left; color: var(--muted); padding-bottom: 4px; }
th, td { border: 1px solid var(--line); padding: 3px 8px; vertical-align: top; }
td.num { white-space: nowrap; }
th { background: var(--band); text-align: left; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; background: #fbfcfd; }
tr.configured td { font-weight: 600; background: #fff6e0; }
.note { color: var(--muted); font-size: 12.5px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 8px 0 14px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 150px; background: var(--band); }
.card .v { font-size: 20px; font-weight: 600; }
.card .k { color: var(--muted); font-size: 12px; }
figure.plot { margin: 8px 0 14px; }
figure.plot svg { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 12.5px; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 6px 18px; }
.stat { border: 1px solid var(--line); border-radius: 6px; padding: 4px 12px 2px; }
details { margin: 4px 0; }
summary { cursor: pointer; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--band); border: 1px solid var(--line);
      padding: 6px 8px; font-size: 12.5px; max-height: 22em; overflow: auto; }
.example-meta { color: var(--muted); font-size: 12px; margin-top: 6px; }
.formula { font-family: "DejaVu Serif", Georgia, serif; font-size: 15px; background: var(--band); padding: 8px 12px;
           border-left: 3px solid var(--accent); margin: 6px 0; }
"""


def card(key: str, value: str) -> str:
    return f'<div class="card"><div class="v">{esc(value)}</div><div class="k">{esc(key)}</div></div>'


def page(title: str, subtitle: str, sections: Sequence[Section]) -> str:
    nav = "".join(f'<a href="#{esc(s.anchor)}">{esc(s.title)}</a>' for s in sections)
    body = "".join(
        f'<section id="{esc(s.anchor)}"><h2>{esc(s.title)}</h2>{"".join(s.body)}</section>' for s in sections
    )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # no network, no scripts: the CSP makes any stray reference fail closed instead of fetching
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "img-src data:\">"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{esc(title)}</h1><p>{esc(subtitle)} · generated {esc(stamp)}</p></header>"
        f"<nav>{nav}</nav><main>{body}</main></body></html>\n"
    )
