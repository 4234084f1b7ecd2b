"""Issue 17, the --graph picture: it fits JupyterLab's 848 px output area, bounds array nodes, follows the
page's theme (not the operating system's), and its PNG fallback reads on a white and a near-black page.
The pictures come from the magic itself (seed and chain cells) or from graphs built by hand; sizes are
read from the SVG's own attributes, contrast from the PNG's pixels by the WCAG 2 formula."""
import io
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output

from adiff_magic.graph import to_png, to_svg
from adiff_magic.model import Graph, GraphEdge, GraphNode

SVG = "{http://www.w3.org/2000/svg}"
OUTPUT_AREA = 848  # px: JupyterLab's output area with the file browser open, at 100% zoom (issue 17)
SEED = "x = 0.5\na = square(x)\nb = exp(a)\ny = square(b)\n"
CHAIN_12 = "x = 0.5\n" + "".join(f"v{i} = sin({'x' if i == 1 else f'v{i - 1}'})\n" for i in range(1, 12)) + "y = exp(v11)\n"


@pytest.fixture(scope="module")
def shell():
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "adiff_magic")
    return ip


def graph_svg(ip, cell):
    """The image/svg+xml the magic displays for ``%%grad --graph`` on ``cell``, parsed."""
    with capture_output() as captured:
        ip.run_cell_magic("grad", "--graph", cell)
    svgs = [o.data["image/svg+xml"] for o in captured.outputs if "image/svg+xml" in o.data]
    assert len(svgs) == 1, captured.stderr
    return ET.fromstring(svgs[0])


def natural_size(root):
    """(width, height) from the width and height attributes, checked against the viewBox."""
    width, height = float(root.get("width")), float(root.get("height"))
    assert [float(v) for v in root.get("viewBox").split()] == [0, 0, width, height]
    return width, height


def node_rects(root):
    """data-key -> the (x, y, width, height) of each node's box."""
    return {g.get("data-key"): tuple(float(g.find(SVG + "rect").get(k)) for k in ("x", "y", "width", "height"))
            for g in root.iter(SVG + "g") if g.get("class") == "adiff-node"}


def inside(rect, width, height):
    x, y, w, h = rect
    return 0 <= x and x + w <= width and 0 <= y and y + h <= height


# ================================================================ it fits


def test_the_seed_picture_is_at_most_840_px_wide_at_its_natural_size(shell):
    root = graph_svg(shell, SEED)
    width, height = natural_size(root)
    assert width <= OUTPUT_AREA - 8  # the target: 840 px (it was 984)
    assert width <= 421  # it still fits at 150% zoom with the file browser open (421 CSS px)
    rects = node_rects(root)
    assert len(rects) == 7 and all(inside(r, width, height) for r in rects.values())
    target = [g for g in root.iter(SVG + "g") if g.get("class") == "adiff-node" and
              g.find(SVG + "rect").get("class") == "adiff-target"]
    assert [t.find(SVG + "text").text for t in target] == ["y"]
    names = {"".join(g.find(SVG + "text").itertext()) for g in root.iter(SVG + "g") if g.get("class") == "adiff-node"}
    assert {"x", "a", "b", "y", "Square", "Exp"} <= names


def test_a_chain_of_12_functions_wraps_within_840_px_and_keeps_its_target(shell):
    root = graph_svg(shell, CHAIN_12)
    width, height = natural_size(root)
    assert width <= OUTPUT_AREA - 8
    target = [g for g in root.iter(SVG + "g") if g.get("class") == "adiff-node" and
              g.find(SVG + "rect").get("class") == "adiff-target"]
    assert len(target) == 1 and target[0].find(SVG + "text").text == "y"
    assert all(inside(r, width, height) for r in node_rects(root).values())
    assert len(node_rects(root)) == 25  # x, 12 functions, 12 results: nothing left out
    assert height < 2182 / 1.8  # wrapped into rows, not one column of 25 boxes (2,182 px top to bottom)


def test_the_svg_shrinks_to_a_narrower_container():
    style = "".join(ET.fromstring(to_svg(seed_graph())).find(SVG + "style").itertext())
    assert re.search(r"svg\.adiff-graph\)?\{max-width:100%;height:auto\}", style)


# ================================================================ arrays


def test_an_array_node_stays_small_whatever_the_array():
    big = np.arange(1_000_000, dtype=float).reshape(1000, 1000) / 7
    graph = Graph((GraphNode("m", "variable", "m", big, np.ones_like(big)), GraphNode("f", "function", "Sum"),
                   GraphNode("t", "variable", "t", np.asarray(big.sum()), np.asarray(1.0))),
                  (GraphEdge("m", "f"), GraphEdge("f", "t")))
    svg = to_svg(graph)
    assert len(svg) < 10_000  # no element of the million is written out past the first few
    root = ET.fromstring(svg)
    x, y, w, h = node_rects(root)["m"]
    assert w <= 210 and h <= 90
    shown = ["".join(t.itertext()) for t in root.iter(SVG + "text")]
    assert any("(1000, 1000)" in t for t in shown)  # its shape is said
    assert any("…" in t for t in shown)  # and that values are left out


# ================================================================ the theme


def test_the_dark_palette_keys_on_the_page_not_the_operating_system():
    style = "".join(ET.fromstring(to_svg(seed_graph())).find(SVG + "style").itertext())
    assert "prefers-color-scheme" not in style and "@media" not in style
    assert ':where(body[data-jp-theme-light="false"]) .adiff-var' in style  # JupyterLab's Dark theme
    assert re.search(r'body\[data-jp-theme-light="false"\]\) \.adiff-target[^{]*\{fill:#[0-9a-f]{6}', style)


# ================================================================ the PNG on both pages


def luminance(rgb):
    """WCAG 2 relative luminance of an (r, g, b) in 0..255."""
    c = np.asarray(rgb, float) / 255
    c = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return 0.2126 * c[..., 0] + 0.7152 * c[..., 1] + 0.0722 * c[..., 2]


def contrast(a, b):
    la, lb = luminance(a), luminance(b)
    return (np.maximum(la, lb) + 0.05) / (np.minimum(la, lb) + 0.05)


def composited(graph, page):
    """The graph's PNG laid over a page of colour ``page`` (Porter and Duff's over): what one sees."""
    from PIL import Image

    image = Image.open(io.BytesIO(to_png(graph))).convert("RGBA")
    rgba = np.asarray(image).astype(float)
    alpha = rgba[..., 3:] / 255
    return rgba[..., :3] * alpha + np.asarray(page, float) * (1 - alpha), rgba[..., 3]


PAGES = {"white": (255, 255, 255), "#111": (17, 17, 17)}


@pytest.mark.parametrize("page", PAGES)
def test_the_png_reads_on_a_white_and_a_near_black_page(page):
    graph = seed_graph()
    seen, alpha = composited(graph, PAGES[page])
    root = ET.fromstring(to_svg(graph))
    assert alpha[0, 0] == alpha[-1, -1] == 0  # transparent: the page shows through
    for group in root.iter(SVG + "g"):
        rect = group.find(SVG + "rect")
        if rect is None:
            continue
        x, y, w, h, r = (float(rect.get(k)) for k in ("x", "y", "width", "height", "rx"))
        inset = max(r, 4)  # clear of the border and the rounded ends
        box = (slice(int(y) + 3, int(y + h) - 3), slice(int(x + inset), int(x + w - inset)))
        assert (alpha[box] == 255).all()  # an opaque box: its texts do not depend on the page
        pixels = seen[box].reshape(-1, 3)
        fill = pixels[np.argmax(luminance(pixels))]  # the box's light fill
        ink = pixels[np.argmin(luminance(pixels))]  # the darkest of its text
        assert contrast(fill, ink) >= 4.5, (group.get("data-key"), fill, ink)
        assert contrast(fill, PAGES[page]) >= 1.05 or page == "white"  # a light box shows on a dark page
    rects = [tuple(float(r.get(k)) for k in ("x", "y", "width", "height")) for r in root.iter(SVG + "rect")]

    def covered(x, y):  # under a box or a label, or at its border
        return any(rx - 4 <= x <= rx + rw + 4 and ry - 4 <= y <= ry + rh + 4 for rx, ry, rw, rh in rects)

    lines = 0
    for line in root.iter(SVG + "polyline"):
        points = [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            if not (x0 == x1 or y0 == y1) or abs(x1 - x0) + abs(y1 - y0) < 12:
                continue
            for t in (0.25, 0.5, 0.75):
                mx, my = x0 + (x1 - x0) * t, y0 + (y1 - y0) * t
                if covered(mx, my):
                    continue
                near = seen[round(my) - 2:round(my) + 3, round(mx) - 2:round(mx) + 3].reshape(-1, 3)
                line_px = near[np.argmax(contrast(near, np.asarray(PAGES[page], float)))]  # the line's core
                assert contrast(line_px, PAGES[page]) >= 3, (page, (x0, y0, x1, y1), line_px)
                lines += 1
    assert lines >= 6  # the seed's edges, and the wrap's turns


def seed_graph():
    """x = 0.5; a = x**2; b = exp(a); y = b**2, with the reference gradients (ARCHITECTURE.md)."""
    def var(key, value, grad):
        return GraphNode(key, "variable", key, np.asarray(value), np.asarray(grad))

    nodes = (var("x", 0.5, 3.297442541400256), GraphNode("sq1", "function", "Square"), var("a", 0.25, 3.297442541400256),
             GraphNode("exp", "function", "Exp"), var("b", 1.2840254166877414, 2.568050833375483),
             GraphNode("sq2", "function", "Square"), var("y", 1.648721270700128, 1.0))
    edges = (GraphEdge("x", "sq1", 1.0), GraphEdge("sq1", "a"), GraphEdge("a", "exp", 1.2840254166877414),
             GraphEdge("exp", "b"), GraphEdge("b", "sq2", 2.568050833375483), GraphEdge("sq2", "y"))
    return Graph(nodes, edges)
