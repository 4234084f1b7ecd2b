"""%%grad in a real JupyterLab driven by headless Chromium (Playwright): what a person sees.

1. demo.ipynb, run all cells (light and dark theme): the %%grad tables hold the known numbers, every
   --graph cell shows its SVG picture as a decoded <img> holding the cell's node names (never mermaid
   source), the --plot cell an image, no cell but the one tagged raises-exception shows an error, the
   HTML text reads at WCAG contrast >= 4.5, and the seed cell's HTML output is at most 900 px tall.
2. A notebook of cells a learner would write (logistic regression, softmax cross-entropy on an array,
   a loop, the seed chain with --trace full and with --precision 3), run in light and dark: the tables
   hold numbers derived by hand, and every --graph picture is measured (see 4).
3. The same notebook run in the light theme, then switched to JupyterLab Dark: still readable.
4. Each --graph picture: drawn (naturalWidth > 0, shown width > 0); its text's size on screen (SVG
   font-size × shown width / SVG width) is >= 11 px for graphs of up to 20 nodes; its texts contrast
   with the fill under them (the palette in effect: the SVG's light fills, or its prefers-color-scheme:
   dark rules, confirmed on the screenshot's pixels); a dark theme does not show a light box.
5. The committed demo reopened untrusted (a copy with one metadata key changed, as a newcomer's clone
   would be): tables still tables, readable, and each --graph cell shows a decoded picture (the SVG or
   its PNG fallback), not an empty output.

Measurements go to tests/artifacts/ (gitignored): output-heights.json (every %%grad cell's output
height per notebook and theme), graph-measurements.json, full-page screenshots and close-ups (the seed
output, the logistic regression's output and its graph, light and dark, and at 150% zoom). Run with -s
for a short summary. The browser never sees the repository's demo.ipynb: each test opens a fresh copy
in a temporary server root, with autosave off.

Needs Debian's chromium at /usr/bin/chromium plus the playwright and jupyterlab packages (the `test`
extra); without them the tests skip, unless CI is set, when they fail. Deselect with -m "not browser".
"""
from __future__ import annotations

import io
import json
import math
import re
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from base64 import b64decode

import pytest
from lab_harness import (ARTIFACTS, DEMO, REPO, VIEWPORT, Lab, cell_dom, cells, close_notebook, close_up, command,
                         find_cell, open_notebook, panel, run_all_cells, screenshots, switch_theme, table_texts)
from reference import html_table

pytestmark = pytest.mark.browser


# expected numbers per %%grad cell of demo.ipynb, the cell found by a piece of its source (the seed
# notebook and hand derivations)
EXPECTED = {
    "seed chain": ("a = square(x)\nb = exp(a)\ny = square(b)",
                   ["3.297442541400256", "2.568050833375483", "1.648721270700128"]),
    "diamond": ("a = x**2\ny = a**2 + a**2", ["64"]),
    "Goldstein-Price": ("19 - 14*x", ["-5376", "8064"]),
    "--order 2": ("--order 2", ["24", "44"]),
}
# demo.ipynb's --graph cells: a piece of the source -> names the picture must show
DEMO_GRAPHS = {
    "logistic regression": ("%%grad --graph\nw = 0.5", ["Sigmoid", "w*x"]),
    "diamond": ("%%grad --graph --no-trace\nx = 2.0\na = x**2", ["Pow", "Add"]),
}
DEMO_SEED = "%%grad\nx = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
ERROR_TAG = "raises-exception"
ERROR_TEXT = "unknown function 'sqaure'"
MERMAID_WORDS = ("flowchart LR", "graph LR", "classDef")
MIN_CONTRAST = 4.5  # WCAG AA for text
MIN_LINE_CONTRAST = 3.0  # WCAG AA for graphical objects (the graph's edges)
MIN_FONT_PX = 11.0  # text of the --graph picture as shown on screen
SMALL_GRAPH = 20  # nodes: up to this many, the picture's text must stay >= MIN_FONT_PX
MAX_SEED_HTML_PX = 900  # the seed's table + chain rule + trace (its text form is under 20 lines)


# --------------------------------------------------------------------------------------------------
# the learner's notebook: cells and the numbers expected, derived by hand (not by the engine)
# --------------------------------------------------------------------------------------------------

SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)"
LOGISTIC = ("%%grad --graph\nw = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\n"
            "loss = -(t*log(p) + (1-t)*log(1-p))")
SOFTMAX = "%%grad --graph\nz = np.array([1.0, 2.0, 0.5])\np = softmax(z)\nloss = -log(p[1])"
LOOP = "%%grad --graph\nx = 0.5\ny = x\nfor k in range(3):\n    y = sin(y) + x"
SEED_FULL = "%%grad --trace full\n" + SEED
SEED_PRECISION = "%%grad --precision 3 --graph\n" + SEED


def _softmax_grad() -> list[float]:
    """d(-log softmax(z)[1])/dz = softmax(z) - onehot(1), at z = (1, 2, 0.5)."""
    e = [math.exp(v) for v in (1.0, 2.0, 0.5)]
    return [v / sum(e) - (1.0 if i == 1 else 0.0) for i, v in enumerate(e)]


def _loop_grad() -> float:
    """y0 = x, y(k+1) = sin(yk) + x three times, at x = 0.5: dy(k+1)/dx = cos(yk)·dyk/dx + 1."""
    x = y = 0.5
    dy = 1.0
    for _ in range(3):
        y, dy = math.sin(y) + x, math.cos(y) * dy + 1.0
    return dy


SEED_GRADS = {"x": 2 * math.exp(0.5), "a": 2 * math.exp(0.5), "b": 2 * math.exp(0.25), "y": 1.0}

# label: (source, column of the table, {row: expected gradient}, names the --graph picture must show)
STRANGER = {
    # w = 0.5, x = 2, b = -1, t = 1: z = 0, p = 1/2; dloss/dp = -t/p = -2, dp/dz = p(1-p) = 1/4,
    # so dloss/dz = -1/2 and dloss/dw = -x/2, dloss/dx = -w/2, dloss/db = -1/2
    "logistic": (LOGISTIC, "dloss/d(name)", {"w": -1.0, "x": -0.25, "b": -0.5, "z": -0.5, "p": -2.0},
                 ["Sigmoid", "w*x"]),
    "softmax": (SOFTMAX, "dloss/d(name)", {"z": _softmax_grad()}, ["Softmax", "Log"]),
    "loop": (LOOP, "dy/d(name)", {"x": _loop_grad()}, ["Sin", "Add"]),
    "seed --trace full": (SEED_FULL, "dy/d(name)", SEED_GRADS, None),
    "seed --precision 3": (SEED_PRECISION, "dy/d(name)", SEED_GRADS, ["Square", "Exp"]),
}


def stranger_notebook() -> str:
    """The learner's cells as an .ipynb (JSON text)."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("import numpy as np\n%load_ext adiff_magic")]
    nb.cells += [nbformat.v4.new_code_cell(source) for source, *_ in STRANGER.values()]
    return nbformat.writes(nb)


def untrusted_demo() -> str:
    """demo.ipynb with one metadata key added: content the server never signed, as a received notebook."""
    nb = json.loads(DEMO.read_text(encoding="utf-8"))
    nb["metadata"]["received_from"] = "someone else"
    return json.dumps(nb, indent=1, ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# measurements kept for the report (tests/artifacts/*.json)
# --------------------------------------------------------------------------------------------------

RECORDS: dict[str, dict] = {}


def record(file: str, *keys: str, value) -> None:
    """Store value under keys in tests/artifacts/FILE (rewritten whole; one pytest session fills it)."""
    node = RECORDS.setdefault(file, {})
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / file).write_text(json.dumps(RECORDS[file], indent=1, ensure_ascii=False))


# --------------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------------


# For every element under root with text of its own: its text colour composited over its effective
# background (the ancestors' backgrounds blended up to the first opaque one, else white).
JS_CONTRAST = """(root) => {
  const parse = (s) => {
    const m = /^rgba?\\(([^)]*)\\)$/.exec(s.trim());
    if (!m) return null;
    const p = m[1].split(/[\\s,\\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map(i => top[i] * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const lum = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const out = [];
  for (const el of root.querySelectorAll('*')) {
    const own = Array.from(el.childNodes).filter(n => n.nodeType === 3).map(n => n.textContent).join('').trim();
    if (!own) continue;
    const layers = [];
    let unparsed = null;
    for (let a = el; a; a = a.parentElement) {
      const c = parse(getComputedStyle(a).backgroundColor);
      if (!c) { unparsed = getComputedStyle(a).backgroundColor; break; }
      if (c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const layer of layers.reverse()) bg = over(layer, bg);
    const colorText = getComputedStyle(el).color;
    const fg0 = parse(colorText);
    if (!fg0 || unparsed) { out.push({tag: el.tagName, text: own.slice(0, 40), color: colorText, background: unparsed, ratio: null}); continue; }
    const fg = over(fg0, bg);
    const [hi, lo] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    out.push({tag: el.tagName, text: own.slice(0, 40), color: colorText,
              background: 'rgb(' + bg.slice(0, 3).map(Math.round).join(', ') + ')',
              ratio: Math.round(((hi + 0.05) / (lo + 0.05)) * 100) / 100});
  }
  return out;
}"""

# The heights (px) of a cell's whole output area, its HTML output and its picture output, if any.
JS_HEIGHTS = """cell => {
  const h = (sel) => {
    const e = cell.querySelector(sel);
    return e ? Math.round(e.getBoundingClientRect().height) : null;
  };
  return {outputs: h('.jp-Cell-outputArea'),
          html: h(".jp-OutputArea-output[data-mime-type='text/html']"),
          picture: h(".jp-OutputArea-output[data-mime-type^='image/']")};
}"""

# An <img>'s decoded and shown sizes, and the part of it one sees without scrolling (px from its top
# left: clipped by every ancestor that hides or scrolls its overflow, and by the window).
JS_IMAGE = """img => {
  const r = img.getBoundingClientRect();
  let [left, top, right, bottom] = [r.left, r.top, r.right, r.bottom];
  for (let a = img.parentElement; a && a !== document.body; a = a.parentElement) {  // body: the window
    const s = getComputedStyle(a);
    if (s.overflowX === 'visible' && s.overflowY === 'visible') continue;
    const c = a.getBoundingClientRect();
    [left, top] = [Math.max(left, c.left + a.clientLeft), Math.max(top, c.top + a.clientTop)];
    right = Math.min(right, c.left + a.clientLeft + a.clientWidth);
    bottom = Math.min(bottom, c.top + a.clientTop + a.clientHeight);
  }
  [right, bottom] = [Math.min(right, window.innerWidth), Math.min(bottom, window.innerHeight)];
  return {src: img.getAttribute('src') || '', complete: img.complete, naturalWidth: img.naturalWidth,
          naturalHeight: img.naturalHeight, width: r.width, height: r.height,
          visible: [left - r.left, top - r.top, right - r.left, bottom - r.top].map(Math.round),
          colorScheme: getComputedStyle(img).colorScheme};
}"""


# The image/svg+xml of a cell's outputs as the notebook holds it (an untrusted notebook shows the PNG
# fallback instead, drawn from the same picture).
JS_MODEL_SVG = """node => {
  const cell = window.__visiblePanel().content.widgets.find(w => w.node === node);
  const output = cell.model.outputs.toJSON().find(o => o.data && o.data['image/svg+xml']);
  return output ? [].concat(output.data['image/svg+xml']).join('') : null;
}"""


def grad_cells(model_cells: list[dict]) -> list[dict]:
    return [c for c in model_cells if c["type"] == "code" and c["source"].startswith("%%grad")]


def cell_label(cell: dict) -> str:
    """A short name for a cell in the records: its index, magic line and first statement."""
    lines = cell["source"].splitlines()
    return f"[{cell['index']}] " + " | ".join(lines[:2])


def wait_for_pictures(page) -> None:
    """Give the pictures time to be decoded before screenshots (asserted later)."""
    try:
        page.wait_for_function("""() => Array.from(document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea img')).every(i => i.complete)""", timeout=10_000)
    except Exception:
        pass  # the assertions below say what is missing
    page.wait_for_timeout(300)


def check_grad_tables(page, model_cells: list[dict]) -> None:
    """Each demo %%grad cell with known numbers shows a visible table.adiff-table holding them."""
    from playwright.sync_api import expect

    for label, (fragment, numbers) in EXPECTED.items():
        cell = find_cell(model_cells, fragment)
        tables = cell_dom(page, model_cells, cell["index"]).locator(".jp-OutputArea table.adiff-table")
        assert tables.count() >= 1, f"{label}: the cell's output has a table.adiff-table"
        table = tables.first
        table.scroll_into_view_if_needed()
        expect(table).to_be_visible()
        texts = table_texts(table)
        for number in numbers:
            assert number in texts, f"{label}: {number} is a cell of the table; the table reads {texts}"


def shown_table(cell) -> dict:
    """The cell's first table.adiff-table as {row name: {heading: cell text}}."""
    table = cell.locator(".jp-OutputArea table.adiff-table").first
    table.scroll_into_view_if_needed()
    return html_table(table.evaluate("t => t.outerHTML"))


def numbers_in(text: str) -> list[float]:
    """The numbers of a table cell: '-0.25' -> [-0.25]; '(1, 3) [[0.2 -0.3 0.1]]' -> [0.2, -0.3, 0.1]
    (an array's shape comes first; its values are in the brackets)."""
    text = re.sub(r"^\s*\([\d, ]*\)\s*", "", text.replace("\xa0", " "))
    return [float(t) for t in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


def check_numbers(label: str, table: dict, column: str, expected: dict) -> None:
    """Single numbers to every digit; an array's values at the 6 significant digits the table shows
    them with, and everything at N digits under --precision N (issue 17)."""
    for row, value in expected.items():
        assert row in table and column in table[row], f"{label}: row {row!r}, column {column!r} in {table}"
        want = value if isinstance(value, list) else [value]
        asked = re.search(r"--precision (\d+)", label)  # then every number of the table is at that precision
        digits = int(asked.group(1)) if asked else 6 if "[" in table[row][column] else None
        want = [float(f"{w:.{digits}g}") for w in want] if digits else want
        got = numbers_in(table[row][column])
        assert len(got) == len(want) and all(math.isclose(g, w, rel_tol=1e-12, abs_tol=1e-15)
                                             for g, w in zip(got, want)), \
            f"{label}: {column} of {row} reads {table[row][column]!r}, by hand {want}"


def check_errors(page, model_cells: list[dict]) -> None:
    """Only cells tagged raises-exception show an error or stderr output (with the expected message)."""
    from playwright.sync_api import expect

    for c in (c for c in model_cells if c["type"] == "code"):
        errors = [o for o in c["outputs"] if o["type"] == "error" or o["name"] == "stderr"]
        dom_errors = cell_dom(page, model_cells, c["index"]).locator(
            ".jp-OutputArea-output[data-mime-type*='stderr'], .jp-OutputArea-output[data-mime-type*='error']")
        if ERROR_TAG in c["tags"]:
            assert errors and dom_errors.count() >= 1, "the raises-exception cell shows its error"
            dom_errors.first.scroll_into_view_if_needed()
            expect(dom_errors.first).to_contain_text(ERROR_TEXT)
        else:
            assert not errors and dom_errors.count() == 0, (
                f"cell {c['index']} ({c['source'][:40]!r}) shows an error: {errors}\n"
                f"{dom_errors.all_inner_texts() if dom_errors.count() else ''}")


def check_no_mermaid(page, model_cells: list[dict]) -> None:
    """No output is mermaid: no text/vnd.mermaid bundle, no mermaid renderer, no mermaid source as text."""
    mimes = {m for c in model_cells for o in c["outputs"] for m in o["mimes"]}
    assert "text/vnd.mermaid" not in mimes, "an output is still a mermaid diagram"
    assert panel(page).locator(".jp-RenderedMermaid").count() == 0
    text = " ".join(panel(page).locator(".jp-OutputArea").all_inner_texts())
    shown = [w for w in MERMAID_WORDS if w in text]
    assert not shown, f"mermaid source shown as text: {shown}"


def check_contrast(page, theme: str) -> list[dict]:
    """Every text element of every %%grad HTML output reads at WCAG contrast >= 4.5 on its background."""
    results = []
    page.mouse.move(0, 0)  # no hover highlight on a table row
    for result in panel(page).locator(".adiff-result").all():
        results += result.evaluate(JS_CONTRAST)
    assert results, "there is %%grad output text to measure"
    bad = [r for r in results if r["ratio"] is None or r["ratio"] < MIN_CONTRAST]
    assert not bad, (f"{theme} theme: {len(bad)} of {len(results)} text elements in %%grad output read "
                     f"below contrast {MIN_CONTRAST}: {bad[:8]}")
    worst = min(results, key=lambda r: r["ratio"])
    print(f"{theme}: {len(results)} text elements in %%grad output, lowest contrast {worst}")
    return results


def record_heights(page, model_cells: list[dict], notebook: str, theme: str) -> dict:
    """Every %%grad cell's output heights (px), kept in output-heights.json; {label: heights}."""
    heights = {}
    for c in grad_cells(model_cells):
        dom = cell_dom(page, model_cells, c["index"])
        dom.scroll_into_view_if_needed()  # measured once laid out (content-visibility)
        page.wait_for_timeout(50)
        found = dom.evaluate(JS_HEIGHTS)
        texts = [o["text"] for o in c["outputs"] if o["type"] == "execute_result"]
        found["text_lines"] = len(texts[0].rstrip("\n").splitlines()) if texts else None
        heights[cell_label(c)] = found
        record("output-heights.json", notebook, theme, cell_label(c), value=found)
    print(f"\n{notebook}, {theme}: output heights px (whole area / HTML / picture; text lines)")
    for label, h in heights.items():
        print(f"  {h['outputs']:>5} / {h['html']} / {h['picture']}; {h['text_lines']}  {label}")
    return heights


# --------------------------------------------------------------------------------------------------
# the --graph picture: decoded, measured, and its palette checked on its pixels
# --------------------------------------------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def graph_image(cell):
    """The cell's picture output: its <img> (SVG when trusted, else maybe the PNG fallback)."""
    return cell.locator(".jp-OutputArea-output[data-mime-type^='image/'] img").first


def decode_src(src: str) -> tuple[str, bytes]:
    """(mime type, bytes) of a data: URL."""
    head, _, data = src.partition(",")
    mime = head.removeprefix("data:").split(";")[0]
    return mime, b64decode(data) if head.endswith(";base64") else urllib.parse.unquote_to_bytes(data)


def _rgb(color: str) -> tuple[int, int, int]:
    color = color.strip().lstrip("#")
    if len(color) == 3:
        color = "".join(c * 2 for c in color)
    return tuple(int(color[i:i + 2], 16) for i in (0, 2, 4))


def _hex(rgb: tuple) -> str:
    return "#" + "".join(f"{v:02x}" for v in rgb[:3])


def contrast(a: tuple, b: tuple) -> float:
    """The WCAG contrast ratio of two sRGB colours (0..255 channels)."""
    def lum(c):
        v = [x / 255 for x in c[:3]]
        v = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in v]
        return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]
    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def svg_paint(root: ET.Element, dark: bool):
    """paint(element, 'fill' or 'stroke') -> the colour in effect: the element's own attribute, or in a
    dark page the SVG's @media (prefers-color-scheme: dark) class rule (CSS beats presentation attributes)."""
    rules: dict[str, dict] = {}
    if dark:
        style = "".join(s.text or "" for s in root.iter(SVG + "style"))
        media = re.search(r"@media\s*\(\s*prefers-color-scheme\s*:\s*dark\s*\)\s*\{(.*)\}", style, re.DOTALL)
        for selector, body in re.findall(r"\.([\w-]+)\s*\{([^}]*)\}", media.group(1) if media else ""):
            rules[selector] = dict(p.split(":", 1) for p in (d.strip() for d in body.split(";")) if ":" in p)

    def paint(element: ET.Element, prop: str = "fill") -> str | None:
        for cls in (element.get("class") or "").split():
            if prop in rules.get(cls, {}):
                return rules[cls][prop].strip()
        return element.get(prop)
    return paint


def svg_texts(root: ET.Element, paint) -> list[dict]:
    """Each <text>: its font size (user units), its fill, and the fill of the rect drawn before it in
    the same group (None: it sits on the page)."""
    default_size = float((root.get("font-size") or "16").removesuffix("px"))
    texts = []
    for parent in root.iter():
        under = None
        for child in parent:
            if child.tag == SVG + "rect":
                under = paint(child)
            elif child.tag == SVG + "text":
                size = child.get("font-size") or parent.get("font-size")
                texts.append({"text": "".join(child.itertext()), "size": float(size.removesuffix("px")) if size
                              else default_size, "fill": paint(child), "under": under})
    return texts


def fill_mismatches(shot, visible: tuple, root: ET.Element, paint, scale: float) -> list[str]:
    """Rects seen whole whose most common on-screen colour (inside, away from the border and rounded
    corners) is not the fill the theme should show: the palette in effect is not the one assumed."""
    bad = []
    for rect in root.iter(SVG + "rect"):
        x, y, w, h = (float(rect.get(k)) * scale for k in ("x", "y", "width", "height"))
        inside = visible[0] <= x and visible[1] <= y and x + w <= visible[2] and y + h <= visible[3]
        if w < 6 or h < 6 or not inside:
            continue
        box = (round(x + 0.2 * w), round(y + 0.2 * h), round(x + 0.8 * w), round(y + 0.8 * h))
        seen = most_common(shot.crop(box))
        want = _rgb(paint(rect))
        if max(abs(a - b) for a, b in zip(seen, want)) > 12:
            bad.append(f"{rect.get('class')} at ({x:.0f},{y:.0f}) shows {_hex(seen)}, expected {paint(rect)}")
    return bad


def most_common(image) -> tuple:
    """The most common colour of an RGB image (a fill, or the page around the picture's shapes)."""
    return max(image.getcolors(image.width * image.height))[1][:3]


def measure_graph(page, cell, label: str, theme: str, shot_name: str | None = None) -> dict:
    """Everything the tests assert about one --graph picture, as JSON-able numbers (sizes in CSS px)."""
    from PIL import Image, ImageStat

    img = graph_image(cell)
    img.wait_for(state="attached", timeout=20_000)
    img.evaluate("e => e.scrollIntoView({block: 'center'})")  # clear of the toolbar above the notebook
    page.wait_for_function("i => i.complete", arg=img.element_handle(), timeout=10_000)
    shown = img.evaluate(JS_IMAGE)
    mime, data = decode_src(shown["src"])
    visible = shown["visible"]
    facts = {"label": label, "theme": theme, "mime": mime, "naturalWidth": shown["naturalWidth"],
             "shown_width": round(shown["width"], 1), "shown_height": round(shown["height"], 1),
             "visible_width": max(0, visible[2] - visible[0]),
             "visible_fraction": round(max(0, visible[2] - visible[0]) / max(shown["width"], 1), 2),
             "color_scheme": shown["colorScheme"]}
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{shot_name or 'graph'}.png"
    raw = img.screenshot(path=str(path))
    shot = Image.open(io.BytesIO(raw)).convert("RGB")
    ratio = shot.width / max(shown["width"], 1)  # device px per CSS px (1.5 when zoomed)
    seen = shot.crop(tuple(round(v * ratio) for v in visible))  # what one sees without scrolling
    seen.save(path)
    facts["screenshot"] = str(path.relative_to(REPO))
    facts["mean_gray"] = round(ImageStat.Stat(seen.convert("L")).mean[0], 1)
    page_bg = most_common(seen)  # the picture is transparent between its shapes: the page shows through
    facts["page_background"] = _hex(page_bg)
    # the SVG shown, or for the PNG fallback the notebook's SVG of the same picture (drawn one PNG px per
    # SVG unit, in the light palette)
    svg = data.decode("utf-8") if mime == "image/svg+xml" else cell.evaluate(JS_MODEL_SVG)
    if svg is None:
        return facts
    facts["svg"] = svg
    path.with_suffix(".svg").write_text(svg, encoding="utf-8")  # the whole picture, to compare
    root = ET.fromstring(svg)
    width = float(root.get("width").removesuffix("px"))
    facts["svg_width"], facts["viewbox_width"] = width, float(root.get("viewBox").split()[2])
    scale = shown["width"] / width
    facts["scale"] = round(scale, 3)
    paint = svg_paint(root, dark=theme == "dark" and mime == "image/svg+xml")
    rects = list(root.iter(SVG + "rect"))
    facts["nodes"] = sum(1 for r in rects if not (r.get("class") or "").endswith("chip"))
    texts = svg_texts(root, paint)
    facts["names"] = [t["text"] for t in texts]
    facts["font_px"] = sorted({round(t["size"] * scale, 1) for t in texts})
    ratios = [(round(contrast(_rgb(t["fill"]), _rgb(t["under"]) if t["under"] else page_bg), 2), t["text"])
              for t in texts]
    facts["text_contrast_min"], facts["text_contrast_worst"] = min(ratios)
    strokes = {paint(line, "stroke") for line in root.iter(SVG + "polyline")}
    facts["line_contrast"] = round(min((contrast(_rgb(s), page_bg) for s in strokes), default=99.0), 2)
    facts["fill_mismatches"] = fill_mismatches(shot.resize((round(shown["width"]), round(shown["height"])))
                                               if ratio != 1 else shot, visible, root, paint, scale)
    return facts


def graph_problems(facts: dict) -> list[str]:
    """What is wrong with a measured picture, in words (empty: nothing)."""
    name = f"{facts['label']} ({facts['theme']})"
    problems = []
    if not (facts["naturalWidth"] > 0 and facts["shown_width"] > 0 and facts["shown_height"] > 0):
        problems.append(f"{name}: the picture is not drawn: {facts}")
    if facts["theme"] == "dark" and facts["mean_gray"] > 128:
        problems.append(f"{name}: a light box on the dark theme (mean gray {facts['mean_gray']} of 255)")
    if "svg_width" not in facts:
        return problems
    if facts["svg_width"] != facts["viewbox_width"]:
        problems.append(f"{name}: SVG width {facts['svg_width']} != viewBox width {facts['viewbox_width']}")
    if facts["nodes"] <= SMALL_GRAPH and facts["font_px"][0] < MIN_FONT_PX:
        problems.append(f"{name}: {facts['nodes']} nodes, its text shown at {facts['font_px'][0]} px < "
                        f"{MIN_FONT_PX} px (SVG {facts['svg_width']:.0f} px wide shown {facts['shown_width']} px, "
                        f"scale {facts['scale']})")
    if facts["text_contrast_min"] < MIN_CONTRAST:
        problems.append(f"{name}: text {facts['text_contrast_worst']!r} at contrast {facts['text_contrast_min']}")
    if facts["line_contrast"] < MIN_LINE_CONTRAST:
        problems.append(f"{name}: edges at contrast {facts['line_contrast']} on the page")
    if facts["fill_mismatches"]:
        problems.append(f"{name}: fills on screen are not the {facts['theme']} palette: {facts['fill_mismatches'][:4]}")
    return problems


def report_graph(facts: dict, notebook: str) -> None:
    record("graph-measurements.json", notebook, facts["theme"], facts["label"],
           value={k: v for k, v in facts.items() if k not in ("svg", "names")})
    print(f"  graph {facts['label']} ({facts['theme']}): {facts.get('nodes', '?')} nodes, "
          f"SVG {facts.get('svg_width', '-')} px shown {facts['shown_width']} px "
          f"({facts['visible_width']} px = {facts['visible_fraction']:.0%} visible without scrolling), "
          f"text {facts.get('font_px', '-')} px, "
          f"text contrast >= {facts.get('text_contrast_min', '-')}, lines {facts.get('line_contrast', '-')}, "
          f"mean gray {facts['mean_gray']}, {facts['mime']}")


# --------------------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("theme", ["light", "dark"])
def test_demo_run_all_cells_shows_tables_graphs_plot_and_only_the_expected_error(browser, lab, theme):
    """demo.ipynb run in JupyterLab: known numbers in the tables, each --graph an SVG <img> of its own
    graph (no mermaid anywhere), the --plot image, the one expected error, readable HTML, and the seed
    cell's HTML output at most MAX_SEED_HTML_PX tall."""
    from playwright.sync_api import expect

    context, page = open_notebook(browser, lab, lab.copy_demo(f"run-{theme}"), theme)
    try:
        run_all_cells(page, lab)
        wait_for_pictures(page)
        screenshots(page, f"run-all-{theme}")

        model_cells = cells(page)
        code = [c for c in model_cells if c["type"] == "code"]
        counts = [c["count"] for c in code]
        assert counts == sorted(counts) and len(set(counts)) == len(counts), f"cells ran in order: {counts}"

        check_grad_tables(page, model_cells)

        problems = []
        for label, (fragment, names) in DEMO_GRAPHS.items():
            cell = cell_dom(page, model_cells, find_cell(model_cells, fragment)["index"])
            facts = measure_graph(page, cell, label, theme, f"run-all-{theme}-graph-{label.replace(' ', '-')}")
            report_graph(facts, "demo")
            assert facts["mime"] == "image/svg+xml", f"{label}: the trusted picture is the SVG, not {facts['mime']}"
            assert facts["naturalWidth"] > 0, f"{label}: the SVG decoded"
            missing = [n for n in names if n not in facts["names"]]
            assert not missing, f"{label}: the picture shows {missing}; its texts are {facts['names']}"
            problems += graph_problems(facts)
        check_no_mermaid(page, model_cells)

        # --plot: an image
        plot = cell_dom(page, model_cells, find_cell(model_cells, "--plot")["index"])
        image = plot.locator(".jp-OutputArea img").first
        image.scroll_into_view_if_needed()
        expect(image).to_be_visible()
        assert image.evaluate("e => e.complete && e.naturalWidth > 100"), "the plot image decoded"

        check_errors(page, model_cells)
        assert any(ERROR_TAG in c["tags"] for c in code), f"one cell is tagged {ERROR_TAG}"

        check_contrast(page, theme)

        heights = record_heights(page, model_cells, "demo", theme)
        seed = find_cell(model_cells, DEMO_SEED)
        seed_dom = cell_dom(page, model_cells, seed["index"])
        close_up(page, seed_dom.locator(".jp-OutputArea-output[data-mime-type='text/html']"), f"seed-output-{theme}")
        seed_px, seed_lines = heights[cell_label(seed)]["html"], heights[cell_label(seed)]["text_lines"]
        assert seed_px and seed_px <= MAX_SEED_HTML_PX, (
            f"{theme}: the seed cell's HTML output is {seed_px} px tall at {VIEWPORT['width']}x{VIEWPORT['height']}; "
            f"at most {MAX_SEED_HTML_PX} px wanted (its text form is {seed_lines} lines)")
        assert not problems, "the --graph pictures:\n" + "\n".join(problems)
    finally:
        close_notebook(context, page)


def check_stranger_cells(page, model_cells: list[dict], theme: str, notebook: str) -> list[str]:
    """The learner's cells: numbers by hand, the seed's six-row trace and 3-digit precision, and every
    --graph picture measured. Hard failures assert; picture measurements come back as problems."""
    check_errors(page, model_cells)
    check_no_mermaid(page, model_cells)
    problems = []
    for label, (source, column, grads, names) in STRANGER.items():
        cell = cell_dom(page, model_cells, find_cell(model_cells, source)["index"])
        check_numbers(label, shown_table(cell), column, grads)
        if names is not None:
            facts = measure_graph(page, cell, label, theme, f"{notebook}-{theme}-graph-{label.split()[0]}")
            report_graph(facts, notebook)
            assert facts["mime"] == "image/svg+xml", f"{label}: the trusted picture is the SVG, not {facts['mime']}"
            missing = [n for n in names if n not in facts["names"]]
            assert not missing, f"{label}: the picture shows {missing}; its texts are {facts['names']}"
            problems += graph_problems(facts)

    # --trace full: every step in the six-row form (creator, input(s), incoming, rule, local, passes)
    full = cell_dom(page, model_cells, find_cell(model_cells, SEED_FULL)["index"])
    steps = full.locator(".adiff-trace table.adiff-step")
    assert steps.count() == 3, "--trace full: the seed chain's three steps as tables"
    for k in range(3):
        rows = steps.nth(k).locator("tr")
        assert rows.count() == 6, f"--trace full: step {k + 1} has six rows: {rows.all_inner_texts()}"

    # --precision 3: three significant digits in the chain rule, trace, picture and table
    precise = cell_dom(page, model_cells, find_cell(model_cells, SEED_PRECISION)["index"])
    words = precise.locator(".adiff-paths, .adiff-trace").all_inner_texts()
    assert words and all("2.57" in w for w in words) and not any("2.56805" in w for w in words), \
        f"--precision 3: the chain rule and trace show 2.57, not 2.56805: {words}"
    svg = decode_src(graph_image(precise).get_attribute("src"))[1].decode()
    assert ">grad 2.57<" in svg and "2.56805" not in svg, "--precision 3: the picture shows 3 digits"
    return problems


def zoomed_close_ups(browser, lab: Lab, page, path: str) -> list[str]:
    """Save the run notebook (signed, so it reopens trusted) and show it as projected at 150% zoom:
    close-ups of the logistic regression's output and graph; the graph's problems there."""
    command(page, "docmanager:save")
    page.wait_for_function("() => !window.__visiblePanel().context.model.dirty", timeout=20_000)
    context, zoomed = open_notebook(browser, lab, path, "light", zoom=1.5)
    try:
        model_cells = cells(zoomed)
        logistic = cell_dom(zoomed, model_cells, find_cell(model_cells, LOGISTIC)["index"])
        wait_for_pictures(zoomed)
        close_up(zoomed, logistic.locator(".jp-Cell-outputArea"), "logistic-all-light-zoom150")
        facts = measure_graph(zoomed, logistic, "logistic at 150%", "light", "logistic-graph-light-zoom150")
        report_graph(facts, "stranger")
        return graph_problems(facts)
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_stranger_cells_show_numbers_by_hand_and_readable_graphs(browser, lab, theme):
    """Cells a learner would write, run in JupyterLab: the tables hold the gradients derived by hand,
    --trace full and --precision 3 do what they say, and every --graph picture is drawn, big enough to
    read (>= 11 px text for <= 20 nodes), in the theme's palette with readable text."""
    path = lab.put(f"stranger-{theme}", "stranger_cells.ipynb", stranger_notebook())
    context, page = open_notebook(browser, lab, path, theme)
    try:
        run_all_cells(page, lab)
        wait_for_pictures(page)
        screenshots(page, f"stranger-{theme}")
        model_cells = cells(page)
        problems = check_stranger_cells(page, model_cells, theme, "stranger")
        check_contrast(page, theme)
        record_heights(page, model_cells, "stranger", theme)

        logistic = cell_dom(page, model_cells, find_cell(model_cells, LOGISTIC)["index"])
        html = logistic.locator(".jp-OutputArea-output[data-mime-type='text/html']")
        close_up(page, html, f"logistic-output-{theme}")
        close_up(page, logistic.locator(".jp-Cell-outputArea"), f"logistic-all-{theme}")
        if theme == "light":
            problems += zoomed_close_ups(browser, lab, page, path)
        assert not problems, "the --graph pictures:\n" + "\n".join(problems)
    finally:
        close_notebook(context, page)


def test_theme_switch_after_running_keeps_output_readable(browser, lab):
    """Run the learner's cells in the light theme, switch JupyterLab to Dark without rerunning: the HTML
    text still reads at contrast >= 4.5 and each picture now shows its dark palette (no light box)."""
    path = lab.put("switch", "stranger_cells.ipynb", stranger_notebook())
    context, page = open_notebook(browser, lab, path, "light")
    try:
        run_all_cells(page, lab)
        wait_for_pictures(page)
        model_cells = cells(page)
        switch_theme(page, "dark")
        screenshots(page, "switched-dark")
        check_contrast(page, "dark")
        problems = []
        for label, (source, _, _, names) in STRANGER.items():
            if names is not None:
                cell = cell_dom(page, model_cells, find_cell(model_cells, source)["index"])
                facts = measure_graph(page, cell, label, "dark", f"switched-dark-graph-{label.split()[0]}")
                report_graph(facts, "switched light->dark")
                problems += graph_problems(facts)
        assert not problems, "after switching to Dark, the --graph pictures:\n" + "\n".join(problems)
    finally:
        close_notebook(context, page)


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_untrusted_reopen_keeps_readable_tables_and_pictures(browser, lab, theme):
    """The committed demo.ipynb opened as a received notebook (untrusted, outputs sanitised): the tables
    are tables with the numbers, readable, and each --graph cell shows a decoded picture (the SVG or its
    PNG fallback), not an empty output."""
    path = lab.put(f"untrusted-{theme}", "demo.ipynb", untrusted_demo())
    context, page = open_notebook(browser, lab, path, theme)
    try:
        panel(page).locator("table.adiff-table").first.wait_for(state="attached", timeout=30_000)
        wait_for_pictures(page)
        screenshots(page, f"untrusted-{theme}")
        model_cells = cells(page)
        with_outputs = [c for c in model_cells if c["outputs"]]
        assert with_outputs and not any(c["trusted"] for c in with_outputs), \
            "a received notebook is untrusted (its outputs sanitised)"
        check_grad_tables(page, model_cells)
        check_contrast(page, theme)
        check_no_mermaid(page, model_cells)
        problems = []
        for label, (fragment, _) in DEMO_GRAPHS.items():
            cell = cell_dom(page, model_cells, find_cell(model_cells, fragment)["index"])
            assert cell.locator(".jp-OutputArea-output[data-mime-type^='image/'] img").count() >= 1, \
                f"{label}: the untrusted --graph output shows a picture (an <img>), not an empty output"
            facts = measure_graph(page, cell, label, theme, f"untrusted-{theme}-graph-{label.replace(' ', '-')}")
            report_graph(facts, "demo untrusted")
            assert facts["naturalWidth"] > 0 and facts["shown_width"] > 0, f"{label}: the picture decoded: {facts}"
            problems += graph_problems(facts)
        # a close-up of the first table, to judge the look by eye
        close_up(page, panel(page).locator(".adiff-result").first, f"untrusted-{theme}-table")
        assert not problems, "the untrusted --graph pictures:\n" + "\n".join(problems)
    finally:
        close_notebook(context, page)
