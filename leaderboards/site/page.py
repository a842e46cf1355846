"""The site's HTML: page frame, inline CSS, and the inline script that sorts tables."""

from __future__ import annotations

import html

STYLE = """body{font-family:system-ui,-apple-system,sans-serif;margin:0 auto;max-width:1200px;padding:1em 2em;color:#222}
nav a{margin-right:1em}
h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table.sortable,table.paper{border-collapse:collapse;font-size:14px;margin:.5em 0 1.5em}
table.sortable th,table.sortable td{border-bottom:1px solid #e3e3e3;padding:4px 10px;text-align:right}
table.sortable th{cursor:pointer;background:#f4f6f8;user-select:none;white-space:nowrap}
table.sortable th:first-child,table.sortable td:first-child{text-align:left}
table.sortable th[aria-sort=ascending]::after{content:" ▲"}
table.sortable th[aria-sort=descending]::after{content:" ▼"}
table.sortable td.best{font-weight:bold}
.ci{color:#777;font-size:12px}
table.paper th,table.paper td{padding:3px 8px;text-align:right}
table.paper th.lead,table.paper td.lead{text-align:left}
table.paper thead{border-top:2px solid #000;border-bottom:1px solid #000}
table.paper tbody{border-bottom:1px solid #000}
figure.paper-table figcaption{font-size:13px;max-width:1100px}
.cmp{color:#666;font-size:12px}
img.chart{max-width:100%;border:1px solid #eee}
.sample{margin-bottom:1.5em}
.sample h3{margin-bottom:.2em}
.sample p.runs,.sample p.note{margin:.2em 0;font-size:13px;color:#555}
.cells{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}
figure.cell{margin:0;width:160px;text-align:center;font-size:12px}
figure.cell img{width:160px;height:160px;image-rendering:pixelated;display:block;margin-bottom:2px}
figure.cell .adapter{display:block;font-weight:bold;overflow-wrap:anywhere}
figure.cell .run{display:block;color:#666;overflow-wrap:anywhere}
.na{width:160px;height:160px;background:#f1f1f1;color:#999;display:flex;align-items:center;justify-content:center;font-size:12px;margin-bottom:2px}
p.na{width:auto;height:auto;display:block;padding:1em}
.gt-missing{color:#8a4b00;font-size:13px}
footer{margin-top:3em;color:#777;font-size:12px}"""

# Sorts a table by the clicked column: numbers by `data-value`, otherwise by text;
# cells with no value sort last either way. The first click sorts best-first: descending
# under a ↑ header, ascending otherwise (↓ metrics, names, seconds); a header's
# `data-sort-first` overrides that. Repeated clicks flip the direction.
SORT_SCRIPT = """(function(){
function key(cell){var v=cell.getAttribute('data-value');
 if(v!==null&&v!==''){var f=parseFloat(v);return isNaN(f)?null:f;}
 var t=cell.textContent.trim();return t===''||t==='–'?null:t.toLowerCase();}
document.querySelectorAll('table.sortable').forEach(function(table){
 var heads=table.tHead.rows[0].cells;
 Array.prototype.forEach.call(heads,function(th,col){
  th.addEventListener('click',function(){
   var now=th.getAttribute('aria-sort'),first=th.getAttribute('data-sort-first')||(th.textContent.indexOf('\u2191')>=0?'descending':'ascending');
   var asc=now?now!=='ascending':first==='ascending';
   Array.prototype.forEach.call(heads,function(h){h.removeAttribute('aria-sort');});
   th.setAttribute('aria-sort',asc?'ascending':'descending');
   var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
   rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
    if(x===null&&y===null)return 0;if(x===null)return 1;if(y===null)return -1;
    var c=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
    return asc?c:-c;});
   rows.forEach(function(r){body.appendChild(r);});
  });
 });
});
})();"""


def page(title: str, sections: list[tuple[str, str, str]], footer: str = "") -> str:
    """A whole HTML page.

    Args:
        title: Page title.
        sections: (anchor id, heading, HTML body) in order; each gets a nav link.
        footer: HTML for the footer.
    """
    nav = " ".join(f'<a href="#{html.escape(anchor)}">{html.escape(heading)}</a>' for anchor, heading, _ in sections)
    body = "\n".join(f'<section id="{html.escape(anchor)}"><h2>{html.escape(heading)}</h2>\n{content}\n</section>' for anchor, heading, content in sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{html.escape(title)}</title>"
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n<nav>{nav}</nav>\n{body}\n"
        f"<footer>{footer}</footer>\n<script>{SORT_SCRIPT}</script>\n</body></html>\n"
    )
