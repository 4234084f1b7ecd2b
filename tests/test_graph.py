"""Tests for adiff_magic.graph: the --graph picture's layout, SVG and PNG, on graphs built by hand (and one
--graph in a fresh process, which must not import matplotlib)."""
import io
import math
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from adiff_magic.model import Graph, GraphEdge, GraphNode
from adiff_magic.graph import MAX_NODES, MAX_WIDTH, WIDTH, layout, to_png, to_svg

SVG = "{http://www.w3.org/2000/svg}"
ROOT = Path(__file__).resolve().parents[1]


# ================================================================ graphs


def var(key, text, value, grad):
    return GraphNode(key, "variable", text, np.asarray(value), None if grad is None else np.asarray(grad))


def fn(key, text):
    return GraphNode(key, "function", text)


def seed():
    """x = 0.5; a = x**2; b = exp(a); y = b**2."""
    return Graph(
        (var("x", "x", 0.5, 3.297442541400256), fn("sq1", "Square"), var("a", "a", 0.25, 3.297442541400256),
         fn("exp", "Exp"), var("b", "b", 1.2840254166877414, 2.568050833375483), fn("sq2", "Square"),
         var("y", "y", 1.648721270700128, 1.0)),
        (GraphEdge("x", "sq1", 1.0), GraphEdge("sq1", "a"), GraphEdge("a", "exp", 1.2840254166877414),
         GraphEdge("exp", "b"), GraphEdge("b", "sq2", 2.568050833375483), GraphEdge("sq2", "y")))


def diamond():
    """x = 1.5; a = x ** 2; y = a ** 2 + a ** 2 (two Pow nodes made by one source text)."""
    return Graph(
        (var("x", "x", 1.5, 13.5), fn("p0", "Pow"), var("a", "a", 2.25, 9.0), fn("p1", "Pow"), fn("p2", "Pow"),
         var("c1", "a ** 2 [1]", 5.0625, 1.0), var("c2", "a ** 2 [2]", 5.0625, 1.0), fn("add", "Add"),
         var("y", "y", 10.125, 1.0)),
        (GraphEdge("x", "p0", 3.0), GraphEdge("p0", "a"), GraphEdge("a", "p1", 4.5), GraphEdge("a", "p2", 4.5),
         GraphEdge("p1", "c1"), GraphEdge("p2", "c2"), GraphEdge("c1", "add", 1.0), GraphEdge("c2", "add", 1.0),
         GraphEdge("add", "y")))


def square_by_mul(name="y"):
    """x = 0.5; y = x * x: the same input twice."""
    return Graph((var("x", "x", 0.5, 1.0), fn("mul", "Mul"), var("y", name, 0.25, 1.0)),
                 (GraphEdge("x", "mul", 0.5), GraphEdge("x", "mul", 0.5), GraphEdge("mul", "y")))


def chain(functions):
    """x and w into a Mul, then a chain of Sin: 2 + 2 * functions nodes."""
    nodes = [var("x", "x", 0.5, 1.0), var("w", "w", 2.0, 0.25)]
    edges = [GraphEdge("x", "f1", 2.0), GraphEdge("w", "f1", 0.5)]
    for i in range(1, functions + 1):
        nodes += [fn(f"f{i}", "Mul" if i == 1 else "Sin"), var(f"v{i}", f"v{i}", 0.1 * i, 1.0)]
        if i > 1:
            edges.append(GraphEdge(f"v{i - 1}", f"f{i}", 0.9))
        edges.append(GraphEdge(f"f{i}", f"v{i}"))
    return Graph(tuple(nodes), tuple(edges))


def fan_in(k):
    """k inputs, each squared, all added: y = x0**2 + x1**2 + ... (3k + 2 nodes in 5 columns)."""
    nodes, edges = [], []
    for i in range(k):
        nodes += [var(f"x{i}", f"x{i}", i, 2 * i), fn(f"s{i}", "Square"), var(f"q{i}", f"x{i} ** 2", i * i, 1)]
        edges += [GraphEdge(f"x{i}", f"s{i}", 2.0 * i), GraphEdge(f"s{i}", f"q{i}"), GraphEdge(f"q{i}", "sum", 1.0)]
    nodes += [fn("sum", "Add"), var("y", "y", 1.0, 1.0)]
    return Graph(tuple(nodes), tuple(edges + [GraphEdge("sum", "y")]))


def logistic():
    """loss = constant * log(sigmoid(w * x + b)), 14 nodes, the constant used at the end."""
    w, x, b = 0.8, 1.5, -0.3
    z = w * x + b
    p = 1 / (1 + math.exp(-z))
    dz = -(1 - p)
    return Graph(
        (var("w", "w", w, dz * x), var("x", "x", x, dz * w), fn("m", "Mul"), var("wx", "w*x", w * x, dz),
         var("b", "b", b, dz), fn("add", "Add"), var("z", "z", z, dz), fn("sig", "Sigmoid"), var("p", "p", p, -1 / p),
         fn("log", "Log"), var("lp", "log(p)", math.log(p), -1.0), var("c", "constant", -1.0, math.log(p)),
         fn("m2", "Mul"), var("loss", "loss", -math.log(p), 1.0)),
        (GraphEdge("w", "m", x), GraphEdge("x", "m", w), GraphEdge("m", "wx"), GraphEdge("wx", "add", 1.0),
         GraphEdge("b", "add", 1.0), GraphEdge("add", "z"), GraphEdge("z", "sig", p * (1 - p)), GraphEdge("sig", "p"),
         GraphEdge("p", "log", 1 / p), GraphEdge("log", "lp"), GraphEdge("lp", "m2", -1.0),
         GraphEdge("c", "m2", math.log(p)), GraphEdge("m2", "loss")))


def logistic_regression():
    """w = 0.5, x = 2, b = -1, t = 1; z = w*x + b; p = sigmoid(z); loss = -(t*log(p) + (1-t)*log(1-p)):
    28 nodes, inputs first (the recorded graph lists the target first), 16 layers deep."""
    log_half = math.log(0.5)
    nodes = (var("w", "w", 0.5, -1.0), var("x", "x", 2.0, -0.25), var("b", "b", -1.0, -0.5), var("t", "t", 1.0, 0.0),
             fn("mul", "Mul"), var("wx", "w*x", 1.0, -0.5), fn("add", "Add"), var("z", "z", 0.0, -0.5),
             fn("sig", "Sigmoid"), var("p", "p", 0.5, -2.0), fn("log", "Log"), var("lp", "log(p)", log_half, -1.0),
             fn("mul2", "Mul"), var("tlp", "t*log(p)", log_half, -1.0), var("one", "constant", 1.0, 0.0),
             fn("sub", "Sub"), var("q", "1-p", 0.5, 0.0), fn("log2", "Log"), var("lq", "log(1-p)", log_half, 0.0),
             var("one2", "constant", 1.0, -log_half), fn("sub2", "Sub"), var("u", "1-t", 0.0, -log_half),
             fn("mul3", "Mul"), var("ulq", "(1-t)*log(1-p)", 0.0, -1.0), fn("add2", "Add"),
             var("sum", "t*log(p) + (1-t)*log(1-p)", log_half, -1.0), fn("neg", "Neg"),
             var("loss", "loss", -log_half, 1.0))
    edges = (GraphEdge("w", "mul", 2.0), GraphEdge("x", "mul", 0.5), GraphEdge("mul", "wx"),
             GraphEdge("wx", "add", 1.0), GraphEdge("b", "add", 1.0), GraphEdge("add", "z"),
             GraphEdge("z", "sig", 0.25), GraphEdge("sig", "p"), GraphEdge("p", "log", 2.0), GraphEdge("log", "lp"),
             GraphEdge("t", "mul2", log_half), GraphEdge("lp", "mul2", 1.0), GraphEdge("mul2", "tlp"),
             GraphEdge("one", "sub", 1.0), GraphEdge("p", "sub", -1.0), GraphEdge("sub", "q"),
             GraphEdge("q", "log2", 2.0), GraphEdge("log2", "lq"), GraphEdge("one2", "sub2", 1.0),
             GraphEdge("t", "sub2", -1.0), GraphEdge("sub2", "u"), GraphEdge("u", "mul3", log_half),
             GraphEdge("lq", "mul3", 0.0), GraphEdge("mul3", "ulq"), GraphEdge("tlp", "add2", 1.0),
             GraphEdge("ulq", "add2", 1.0), GraphEdge("add2", "sum"), GraphEdge("sum", "neg", -1.0),
             GraphEdge("neg", "loss"))
    return Graph(nodes, edges)


def sin_chain(steps):
    """x = 0.5; y = x; y = sin(y) ``steps`` times: 1 + 2 * steps nodes in as many layers."""
    nodes, edges, last, value = [var("x", "x", 0.5, 1.0)], [], "x", 0.5
    for i in range(1, steps + 1):
        nodes += [fn(f"sin{i}", "Sin"), var(f"y{i}", f"y#{i}", math.sin(value), 1.0)]
        edges += [GraphEdge(last, f"sin{i}", math.cos(value)), GraphEdge(f"sin{i}", f"y{i}")]
        last, value = f"y{i}", math.sin(value)
    return Graph(tuple(nodes), tuple(edges))


SMALL = [seed, diamond, square_by_mul, logistic, lambda: chain(9), lambda: fan_in(6)]  # all ≤ 20 nodes
DEEP = [logistic_regression, lambda: sin_chain(10)]  # too wide left to right: drawn top to bottom


# ================================================================ helpers


def parse(svg):
    return ET.fromstring(svg)


def texts(root):
    return ["".join(t.itertext()) for t in root.iter(SVG + "text")]


def groups_with_text(root):
    return [g for g in root.iter(SVG + "g") if g.find(SVG + "text") is not None]


def luminance(colour):
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b):
    light, dark = sorted((luminance(a), luminance(b)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def dark_fills(root):
    """class -> fill in the picture's rules for a dark page (JupyterLab's Dark theme)."""
    style = "".join(root.find(SVG + "style").itertext())
    assert ':where(body[data-jp-theme-light="false"]) .adiff-' in style
    return dict(re.findall(r"\.([\w-]+)\{fill:(#[0-9a-f]{6})", style))


def overlap(a, b):
    """Do two (x, y, width, height) rectangles share any area?"""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def rect_of(element):
    return tuple(float(element.get(k)) for k in ("x", "y", "width", "height"))


def proper_crossings(routes):
    """Pairs of route segments that cross at an inner point (a shared endpoint is no crossing)."""
    segments = [(i, p, q) for i, r in enumerate(routes) for p, q in zip(r.points, r.points[1:])]

    def side(a, b, c):
        value = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return (value > 1e-9) - (value < -1e-9)

    count = 0
    for k, (i, a, b) in enumerate(segments):
        for j, c, d in segments[k + 1:]:
            if i != j and side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0:
                count += 1
    return count


# ================================================================ the SVG document


@pytest.mark.parametrize("make", SMALL)
def test_svg_is_plain_standalone_svg_at_its_natural_size(make):
    svg = to_svg(make())
    root = parse(svg)
    assert root.tag == SVG + "svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert "sans-serif" in root.get("font-family")
    assert root.find(SVG + "title") is not None
    for bad in ("script", "foreignObject", "image", "use", "a"):
        assert root.find(".//" + SVG + bad) is None
    assert not re.search(r"href|url\(|@import|@font-face", svg)
    for rect in root.iter(SVG + "rect"):  # the page shows through: no backdrop
        assert float(rect.get("width")) * float(rect.get("height")) < 0.5 * width * height


def test_seed_shows_names_values_gradients_and_local_derivatives():
    shown = texts(parse(to_svg(seed())))
    for text in ("x", "value 0.5", "grad 3.29744", "a", "value 0.25", "Exp", "b", "value 1.28403",
                 "grad 2.56805", "y", "value 1.64872", "grad 1", "×1", "×1.28403", "×2.56805"):
        assert text in shown
    assert shown.count("Square") == 2
    assert len([t for t in shown if t.startswith("×")]) == 3  # one per input edge, none on output edges


def test_digits_sets_the_significant_digits():
    shown = texts(parse(to_svg(seed(), digits=3)))
    assert "value 1.28" in shown and "×2.57" in shown and "grad 3.3" in shown


def test_negative_zero_is_never_printed():
    graph = Graph((var("x", "x", -0.0, -0.0), fn("neg", "Neg"), var("y", "y", np.array([-0.0, 1.0]), [-0.0, -0.0])),
                  (GraphEdge("x", "neg", -0.0), GraphEdge("neg", "y")))
    shown = texts(parse(to_svg(graph)))
    assert "value 0" in shown and "grad 0" in shown and "×0" in shown
    assert "value [0, 1] (2,)" in shown and "grad [0, 0] (2,)" in shown
    assert not any(re.search(r"-0(?![.\d])", t) for t in shown)


def test_array_values_are_summarised_short_and_a_missing_gradient_is_a_dash():
    graph = Graph((var("v", "v", [0.1, 0.2, 0.3], [1.0, 2.0, 3.0]), fn("sum", "Sum"),
                   var("s", "s", 0.6, 1.0), var("u", "u", np.arange(5) + 0.5, None)),
                  (GraphEdge("v", "sum"), GraphEdge("u", "sum"), GraphEdge("sum", "s")))
    shown = texts(parse(to_svg(graph)))
    assert "value [0.1, 0.2, 0.3] (3,)" in shown  # 20 characters: fits whole
    assert "value [0.5, 1.5, …] (5,)" in shown  # '[0.5, 1.5, 2.5, …] (5,)' would be 23
    assert "grad —" in shown
    big = Graph((var("m", "m", np.full((100, 200), 1 / 3), None), fn("f", "Sum"), var("t", "t", 1.0, 1.0)),
                (GraphEdge("m", "f"), GraphEdge("f", "t")))
    # '[0.333333, …] (100, 200)' would be 24: the first value is kept, at 3 digits
    assert "value [0.333, …] (100, 200)" in texts(parse(to_svg(big)))
    empty = Graph((var("e", "e", np.zeros((0, 3)), None), fn("f", "Sum"), var("t", "t", 0.0, 1.0)),
                  (GraphEdge("e", "f"), GraphEdge("f", "t")))
    assert "value [] (0, 3)" in texts(parse(to_svg(empty)))


def test_user_text_is_escaped_and_long_names_are_cut():
    name = 'a<b & "c" and a name far longer than any box'
    svg = to_svg(square_by_mul(name))
    assert "&lt;b &amp; &quot;c&quot;" in svg
    shown = texts(parse(svg))
    cut = next(t for t in shown if t.startswith("a<b"))
    assert cut.endswith("…") and len(cut) <= 20 and name.startswith(cut[:-1])
    for rect in parse(svg).iter(SVG + "rect"):
        assert float(rect.get("width")) <= 210


def test_the_same_input_twice_gives_two_edges_with_their_own_labels():
    root = parse(to_svg(square_by_mul()))
    assert texts(root).count("×0.5") == 2
    assert len(root.findall(".//" + SVG + "polyline")) == 3
    routes = layout(square_by_mul()).routes
    assert routes[0].points != routes[1].points and routes[0].label != routes[1].label


@pytest.mark.parametrize("make", SMALL + DEEP)
def test_nothing_drawn_overlaps(make):
    rects = [rect_of(r) for r in parse(to_svg(make())).iter(SVG + "rect")]
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not overlap(a, b), (a, b)


# ================================================================ legibility on any page


@pytest.mark.parametrize("make", SMALL + DEEP)
def test_text_is_at_least_12_px(make):
    sizes = [float(t.get("font-size")) for t in parse(to_svg(make())).iter(SVG + "text")]
    assert sizes and min(sizes) >= 12


@pytest.mark.parametrize("make", SMALL + DEEP)
def test_every_text_sits_on_a_fill_of_its_own_with_enough_contrast_light_and_dark(make):
    root = parse(to_svg(make()))
    dark = dark_fills(root)
    groups = groups_with_text(root)
    assert sum(len(g.findall(SVG + "text")) for g in groups) == len(texts(root))  # no text outside them
    for group in groups:
        rect = group.find(SVG + "rect")
        x, y, w, h = rect_of(rect)
        for text in group.findall(SVG + "text"):
            assert x < float(text.get("x")) < x + w and y < float(text.get("y")) < y + h
            assert contrast(text.get("fill"), rect.get("fill")) >= 4.5
            assert contrast(dark[text.get("class")], dark[rect.get("class")]) >= 4.5


@pytest.mark.parametrize("make", SMALL + DEEP)
def test_lines_and_arrows_are_a_grey_seen_on_white_and_on_near_black(make):
    root = parse(to_svg(make()))
    greys = {e.get("stroke") for e in root.iter(SVG + "polyline")} | {e.get("fill") for e in root.iter(SVG + "polygon")}
    assert greys
    for grey in greys:
        assert contrast(grey, "#ffffff") >= 3 and contrast(grey, "#111111") >= 3
    assert not any(e.get("class") for e in root.iter(SVG + "polyline"))  # no dark rule recolours them


def test_the_target_and_the_inputs_stand_out():
    root = parse(to_svg(logistic()))
    by_name = {g.find(SVG + "text").text: g.find(SVG + "rect") for g in groups_with_text(root)}
    assert by_name["loss"].get("class").endswith("target")
    assert float(by_name["loss"].get("stroke-width")) > float(by_name["z"].get("stroke-width"))
    for leaf in ("w", "x", "b"):
        assert by_name[leaf].get("fill") == by_name["w"].get("fill") != by_name["z"].get("fill")
    assert by_name["Mul"].get("fill") != by_name["z"].get("fill")
    # a literal constant is no input: its own grey, and no gradient line (issue 15: 'it gets a gradient')
    assert by_name["constant"].get("fill") not in {by_name[name].get("fill") for name in ("w", "z", "loss", "Mul")}
    constant = next(g for g in groups_with_text(root) if g.find(SVG + "text").text == "constant")
    assert [t.text for t in constant.iter(SVG + "text")][1:] == ["value -1"]  # -1, as built above


# ================================================================ edges


def stroke_widths(graph):
    """Per edge (graph order): the stroke width of the polyline that starts where its route starts."""
    def start(x, y):
        return round(float(x), 1), round(float(y), 1)

    lines = parse(to_svg(graph)).iter(SVG + "polyline")
    widths = {start(*line.get("points").split()[0].split(",")): float(line.get("stroke-width")) for line in lines}
    return [widths[start(*route.points[0])] for route in layout(graph).routes]


def test_edges_are_thicker_where_more_gradient_flows():
    widths = stroke_widths(seed())
    # flows: x->Square 1 × 3.29744, Square->a 3.29744, a->Exp 1.28403 × 2.56805 = 3.29744,
    # Exp->b 2.56805, b->Square 2.56805 × 1, Square->y 1
    assert widths[0] == pytest.approx(5.0) and widths[1] == pytest.approx(5.0) and widths[2] == pytest.approx(5.0)
    assert widths[3] == pytest.approx(2.0 + 3.0 * 2.568050833375483 / 3.297442541400256, abs=0.06)
    assert widths[5] == pytest.approx(2.0 + 3.0 / 3.297442541400256, abs=0.06)
    assert widths[5] < widths[4] < widths[0]


def test_an_edge_without_a_known_flow_gets_the_base_width():
    graph = Graph((var("v", "v", [1.0, 2.0], [3.0, 3.0]), fn("sum", "Sum"), var("s", "s", 3.0, 1.0)),
                  (GraphEdge("v", "sum"), GraphEdge("sum", "s")))
    no_local, output = stroke_widths(graph)
    assert output == pytest.approx(5.0) and 2.0 < no_local < 5.0


# ================================================================ layout


def before(a, b, orientation):
    """Does box a end before box b begins, along the layers (x left to right, y top to bottom)?"""
    if orientation == "LR":
        return a.x + a.width < b.x
    return a.y + a.height <= b.y


def check_layout(graph, orientation=None):
    placed = layout(graph, orientation=orientation)
    boxes = placed.boxes
    along = 0 if placed.orientation == "LR" else 1  # the axis the layers follow
    assert set(boxes) == {n.key for n in graph.nodes}
    for edge in graph.edges:
        source, target = boxes[edge.source], boxes[edge.target]
        assert source.layer < target.layer
        # wrapped into rows: read like text, a later row wholly below
        assert before(source, target, placed.orientation) or (placed.rows > 1 and before(source, target, "TB"))
    for route, edge in zip(placed.routes, graph.edges):
        if placed.rows == 1:
            steps = [p[along] for p in route.points]
            assert steps == sorted(steps) and steps[0] < steps[-1]
            continue
        source, target = boxes[edge.source], boxes[edge.target]
        for (x0, y0), (x1, y1) in zip(route.points, route.points[1:]):
            if x1 < x0:  # a wrap: back left under the source's row, above the target's
                assert y0 == y1 and source.y + source.height < y0 < target.y
        assert route.points[-1][0] == target.x
    items = list(boxes.values())
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            assert not overlap(a[2:], b[2:]), (a, b)
        assert 0 <= a.x and a.x + a.width <= placed.width and 0 <= a.y and a.y + a.height <= placed.height
    return placed


def chips_and_boxes(svg):
    """(label chips, node boxes) of an SVG picture, as (x, y, width, height)."""
    rects = list(parse(svg).iter(SVG + "rect"))
    return ([rect_of(r) for r in rects if r.get("class").endswith("chip")],
            [rect_of(r) for r in rects if not r.get("class").endswith("chip")])


def test_seed_layout_is_three_straight_rows_left_to_right():
    # one row is 984 px (issue 17): wider than WIDTH (421 px: 150% zoom, file browser open), so the seven
    # nodes wrap into three rows, read like text: x Square a / Exp b / Square y
    assert layout(seed(), orientation="LR").width > WIDTH
    placed = check_layout(seed())
    assert placed.orientation == "LR" and placed.rows == 3 and placed.width <= WIDTH
    boxes = placed.boxes
    assert [boxes[k].layer for k in ("x", "sq1", "a", "exp", "b", "sq2", "y")] == list(range(7))
    middles = [round(boxes[k].y + boxes[k].height / 2, 6) for k in ("x", "sq1", "a", "exp", "b", "sq2", "y")]
    assert len(set(middles[:3])) == len(set(middles[3:5])) == len(set(middles[5:])) == 1
    assert middles[0] < middles[3] < middles[5]
    assert boxes["exp"].x < boxes["a"].x and boxes["sq2"].x < boxes["b"].x  # each row starts again at the left


def test_inputs_first_target_last_and_the_two_pows_side_by_side():
    boxes = check_layout(diamond()).boxes
    last = max(b.layer for b in boxes.values())
    assert boxes["x"].layer == 0 and boxes["y"].layer == last
    assert boxes["p1"].layer == boxes["p2"].layer == 3 and boxes["c1"].layer == boxes["c2"].layer == 4
    assert boxes["p1"].x == boxes["p2"].x and boxes["p1"].y != boxes["p2"].y  # one column
    boxes = check_layout(diamond(), "TB").boxes
    assert boxes["p1"].y == boxes["p2"].y and boxes["p1"].x != boxes["p2"].x  # one row
    assert boxes["x"].y < boxes["p1"].y < boxes["y"].y


def test_a_constant_sits_next_to_its_use_and_the_named_inputs_on_the_left():
    boxes = check_layout(logistic()).boxes
    assert boxes["w"].layer == boxes["x"].layer == boxes["b"].layer == 0
    assert boxes["c"].layer == boxes["m2"].layer - 1 == boxes["lp"].layer
    assert boxes["loss"].layer == max(b.layer for b in boxes.values())


def test_crossings_are_brought_down_to_the_known_optimum():
    # layer 1 is listed F(q), A(p, q), M(p, q), G(p): 6 crossings as listed. A and M both take p and q,
    # so one crossing cannot be avoided: G, A, M, F has exactly that one, and the rest none.
    nodes = [var("p", "p", 1.0, 1.0), var("q", "q", 2.0, 1.0), fn("F", "Sin"), fn("A", "Add"), fn("M", "Mul"),
             fn("G", "Cos")]
    edges = [GraphEdge("q", "F"), GraphEdge("p", "A"), GraphEdge("q", "A"), GraphEdge("p", "M"),
             GraphEdge("q", "M"), GraphEdge("p", "G")]
    for f in "FAMG":
        nodes.append(var(f"o{f}", f"o{f}", 0.0, 1.0))
        edges += [GraphEdge(f, f"o{f}"), GraphEdge(f"o{f}", "sum")]
    nodes += [fn("sum", "Add"), var("y", "y", 0.0, 1.0)]
    graph = Graph(tuple(nodes), tuple(edges + [GraphEdge("sum", "y")]))
    placed = check_layout(graph)
    assert proper_crossings(placed.routes) == 1
    assert layout(graph) == placed  # deterministic


def test_a_60_node_chain():
    graph = chain(29)
    assert len(graph.nodes) == MAX_NODES
    placed = check_layout(graph)
    assert placed.orientation == "LR" and placed.rows > 1 and placed.width <= WIDTH
    assert placed.height < layout(graph, orientation="TB").height / 2.5  # was 5140 px top to bottom
    assert max(b.layer for b in placed.boxes.values()) == 58  # x, w; then Mul, v1, Sin, v2, ... v29
    assert placed.boxes["v29"].layer == 58 and placed.boxes["x"].layer == placed.boxes["w"].layer == 0
    root = parse(to_svg(graph))
    assert not any("showing" in t for t in texts(root))  # 60 nodes: all drawn, no caption


def test_a_wide_graph_stays_wide_and_legible():
    graph = fan_in(30)  # 92 nodes: layout does not cut, only to_svg does
    placed = check_layout(graph)
    assert {placed.boxes[f"x{i}"].layer for i in range(30)} == {0}
    assert placed.height > 30 * 62  # thirty boxes stacked, none shrunk
    root = parse(to_svg(fan_in(6)))
    assert float(root.get("width")) == math.ceil(layout(fan_in(6)).width)
    assert proper_crossings(layout(fan_in(6)).routes) == 0


@pytest.mark.parametrize("make", DEEP)
def test_a_deep_graph_is_drawn_within_width_wrapped_or_top_to_bottom_whichever_is_lower(make):
    graph = make()
    placed = check_layout(graph)  # every edge forwards: right within a row, down to a later row or layer
    assert placed.width <= MAX_WIDTH < layout(graph, orientation="LR").width
    assert placed.height <= layout(graph, orientation="TB").height
    root = parse(to_svg(graph))
    assert float(root.get("width")) == math.ceil(placed.width) <= MAX_WIDTH
    assert float(root.get("height")) == math.ceil(placed.height)
    if len(graph.nodes) == 21:  # the chain of 10 Sin: rows of its own, each one straight line
        assert placed.orientation == "LR" and placed.rows > 1 and placed.width <= WIDTH
        rows = {}
        for box in placed.boxes.values():
            rows.setdefault(round(box.y + box.height / 2, 6), []).append(box)
        assert len(rows) == placed.rows
    else:  # the logistic regression: its edges that skip layers would tangle rows (> 3 per wrap);
        assert placed.orientation == "TB"  # top to bottom it is 565 px, past WIDTH but within MAX_WIDTH


def test_the_orientation_is_left_to_right_unless_too_wide_then_the_lowest_within_width():
    for make in SMALL + DEEP + [lambda: parallel(12, 6)]:
        graph = make()
        wide, tall, chosen = layout(graph, orientation="LR"), layout(graph, orientation="TB"), layout(graph)
        assert wide.orientation == "LR" and tall.orientation == "TB" and wide.rows == tall.rows == 1
        if wide.width <= WIDTH:
            assert chosen == wide
        elif tall.width <= WIDTH:
            assert chosen.width <= WIDTH and chosen.height <= tall.height
        elif chosen.width > WIDTH:
            assert chosen.width <= min(wide.width, tall.width)
    wide, tall = layout(parallel(12, 6), orientation="LR"), layout(parallel(12, 6), orientation="TB")
    assert min(wide.width, tall.width) > MAX_WIDTH  # the last case did happen
    # x * x fits one row; six inputs into one Add cannot wrap (six edges would cross a break) and are
    # narrower left to right (580 px, within MAX_WIDTH) than top to bottom; the rest wrap into rows
    assert [(layout(make()).orientation, layout(make()).rows > 1) for make in SMALL] == [
        ("LR", True), ("LR", True), ("LR", False), ("LR", True), ("LR", True), ("LR", False)]


def parallel(k, depth):
    """k inputs, each through ``depth`` Sin, all added: too wide either way."""
    nodes, edges = [fn("sum", "Add"), var("y", "y", 0.0, 1.0)], [GraphEdge("sum", "y")]
    for i in range(k):
        nodes.append(var(f"x{i}", f"x{i}", 0.1 * i, 1.0))
        last = f"x{i}"
        for j in range(depth):
            nodes += [fn(f"s{i}.{j}", "Sin"), var(f"v{i}.{j}", f"v{i}.{j}", 0.5, 1.0)]
            edges += [GraphEdge(last, f"s{i}.{j}", 0.9), GraphEdge(f"s{i}.{j}", f"v{i}.{j}")]
            last = f"v{i}.{j}"
        edges.append(GraphEdge(last, "sum", 1.0))
    return Graph(tuple(nodes), tuple(edges))


def test_top_to_bottom_labels_sit_between_the_rows_above_their_function_side_by_side():
    graph = logistic_regression()
    placed = layout(graph)
    chips, boxes = chips_and_boxes(to_svg(graph))
    assert len(chips) == sum(r.label is not None for r in placed.routes) == 18

    def chip_at(point):
        chip = min(chips, key=lambda c: math.dist(point, (c[0] + c[2] / 2, c[1] + c[3] / 2)))
        assert math.dist(point, (chip[0] + chip[2] / 2, chip[1] + chip[3] / 2)) < 0.2
        return chip

    by_target: dict = {}
    for route in placed.routes:
        if route.label is None:
            continue
        assert route.label in route.points  # on its own line
        x, y, w, h = chip_at(route.label)
        target = placed.boxes[route.edge.target]
        assert y + h + 12 <= target.y  # above the function, clear of the arrowhead
        assert y >= max(b.y + b.height for b in placed.boxes.values() if b.layer == target.layer - 1)  # below the row
        by_target.setdefault(route.edge.target, []).append((x, y, w, h))
    assert {key for key, labels in by_target.items() if len(labels) == 2} == {
        "mul", "add", "mul2", "sub", "sub2", "mul3", "add2"}
    for labels in by_target.values():
        assert len({y for _, y, _, _ in labels}) == 1  # one row of labels per gap
        (ax, _, aw, _), *rest = sorted(labels)
        for bx, _, bw, _ in rest:
            assert ax + aw < bx  # side by side along x, apart
    for i, a in enumerate(chips):
        assert not any(overlap(a, b) for b in boxes)
        assert not any(overlap(a, b) for b in chips[i + 1:])


def test_the_recorded_logistic_regression_is_drawn_top_to_bottom():
    from adiff_magic.parser import parse as parse_cell
    from adiff_magic.render import _graph
    from adiff_magic.result import View
    from adiff_magic.runner import Options, run

    cell = "w = 0.5\nx = 2.0\nb = -1.0\nt = 1.0\nz = w*x + b\np = sigmoid(z)\nloss = -(t*log(p) + (1-t)*log(1-p))\n"
    result, _ = run(parse_cell(cell), {}, Options(view=View(graph=True)))
    graph = _graph(result)
    assert len(graph.nodes) == 28
    placed = check_layout(graph)
    assert placed.orientation == "TB" and placed.width <= MAX_WIDTH
    assert proper_crossings(placed.routes) <= 1
    svg = to_svg(graph)
    chips, boxes = chips_and_boxes(svg)
    rects = chips + boxes
    for i, a in enumerate(rects):
        assert not any(overlap(a, b) for b in rects[i + 1:]), a
    assert float(parse(svg).get("width")) <= MAX_WIDTH


def test_past_max_nodes_the_nearest_are_drawn_and_the_picture_says_so():
    graph = chain(99)
    assert len(graph.nodes) == 200
    root = parse(to_svg(graph))
    shown = texts(root)
    assert "showing 60 of 200 nodes nearest the target" in shown
    node_rects = [r for r in root.iter(SVG + "rect") if not r.get("class").endswith("chip")]
    assert len(node_rects) == MAX_NODES
    # nearest along reversed edges: v99, f99, v98, ... 30 variables and 30 functions down to f70
    assert "v99" in shown and "v70" in shown and "v69" not in shown and "x" not in shown
    assert shown.count("Sin") == 30


def test_an_empty_graph_is_a_small_picture_that_says_so():
    root = parse(to_svg(Graph((), ())))
    assert texts(root) == ["the graph is empty"]


# ================================================================ PNG


def png_pixels(graph):
    """The graph's PNG as Pillow reads it: rows of (red, green, blue, alpha), 0 to 255."""
    from PIL import Image

    data = to_png(graph)
    Image.open(io.BytesIO(data)).verify()  # its chunks and their checksums
    image = Image.open(io.BytesIO(data))
    assert image.format == "PNG" and image.mode == "RGBA"
    return np.asarray(image).astype(int)


def ink(pixels):
    """Where the texts are: opaque and darker than every line and border (each has a channel ≥ 122)."""
    return (pixels[..., :3].max(axis=2) < 100) & (pixels[..., 3] == 255)


def check_texts(root, pixels, widths=(0.4, 0.85)):
    """Every text of the SVG is written in the PNG at its place: centred on its x, on its baseline, a
    line of its font size; and no ink is outside the fills. ``widths``: per character, in font sizes."""
    written = ink(pixels)
    rects = [rect_of(r) for r in root.iter(SVG + "rect")]
    fills = np.zeros(written.shape, bool)
    for x, y, width, height in rects:
        fills[int(y):math.ceil(y + height), int(x):math.ceil(x + width)] = True
    assert written.any() and not (written & ~fills).any()
    for text in root.iter(SVG + "text"):
        x, y, size = (float(text.get(k)) for k in ("x", "y", "font-size"))
        left, _, width, _ = next(r for r in rects if r[0] < x < r[0] + r[2] and r[1] < y < r[1] + r[3])
        rows, columns = np.nonzero(written[int(y - size):int(y + size / 3), int(left):math.ceil(left + width)])
        words = "".join(text.itertext())
        assert len(rows), words
        assert 0.5 <= (rows.max() - rows.min() + 1) / size <= 1.0, words  # from the tallest letter to the lowest
        assert -3 <= int(y - size) + rows.max() - y <= 3, words  # the baseline, or a descender just below it
        assert widths[0] <= (columns.max() - columns.min() + 1) / size / len(words) <= widths[1], words
        assert abs(int(left) + (columns.min() + columns.max() + 1) / 2 - x) <= 2, words  # text-anchor: middle


@pytest.mark.parametrize("make", [seed, logistic_regression])
def test_png_is_the_svgs_picture_at_its_size_on_a_transparent_background(make):
    pixels = png_pixels(make())
    root = parse(to_svg(make()))
    assert pixels.shape == (int(root.get("height")), int(root.get("width")), 4)
    assert (pixels[[0, 0, -1, -1], [0, -1, 0, -1], 3] == 0).all()  # the four corners
    rects = [rect_of(r) for r in root.iter(SVG + "rect")]
    filled = sum(width * height for _, _, width, height in rects) / (pixels.shape[0] * pixels.shape[1])
    assert filled <= (pixels[..., 3] > 0).mean() <= filled + 0.1  # the fills, and a few lines between them
    for rect, (x, y, width, height) in zip(root.iter(SVG + "rect"), rects):
        fill = [int(rect.get("fill")[i:i + 2], 16) for i in (1, 3, 5)]
        inside = pixels[int(y + height / 2), int(x + 3)]  # just inside the border
        assert inside[3] == 255 and abs(inside[:3] - fill).max() <= 1
    check_texts(root, pixels)


def test_png_writes_in_pillows_own_font_without_dejavu_sans(monkeypatch):
    from adiff_magic import graph

    monkeypatch.setattr(graph, "FONT_FILES", {False: "no such font.ttf", True: "no such font.ttf"})
    graph._font.cache_clear()
    try:
        assert "DejaVu" not in graph._font(24, False).getname()[0]
        check_texts(parse(to_svg(seed())), png_pixels(seed()), widths=(0.3, 0.85))  # a narrower font
    finally:
        graph._font.cache_clear()


def test_png_is_none_without_pillow(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    assert to_png(seed()) is None


def test_drawing_the_graph_imports_no_matplotlib():
    code = textwrap.dedent("""
        import sys
        from IPython.core.interactiveshell import InteractiveShell
        from IPython.utils.capture import capture_output
        ip = InteractiveShell.instance()
        ip.run_line_magic("load_ext", "adiff_magic")
        with capture_output() as captured:
            ip.run_cell_magic("grad", "--graph", "x = 0.5\\na = square(x)\\nb = exp(a)\\ny = square(b)\\n")
        print(sorted(captured.outputs[0].data), "matplotlib" in sys.modules)
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == "['image/png', 'image/svg+xml', 'text/plain'] False"


def test_nodes_and_edges_carry_their_keys_for_the_step_view():
    svg = to_svg(seed())
    root = parse(svg)
    groups = {g.get("data-key"): g for g in root.iter(SVG + "g") if g.get("class") == "adiff-node"}
    assert set(groups) == {"x", "sq1", "a", "exp", "b", "sq2", "y"}
    assert groups["a"].get("data-kind") == "variable" and groups["exp"].get("data-kind") == "function"
    grad_lines = [t for t in groups["a"].iter(SVG + "text") if t.get("data-grad") == "a"]
    assert len(grad_lines) == 1 and grad_lines[0].text.startswith("grad ")
    edges = {(g.get("data-source"), g.get("data-target")) for g in root.iter(SVG + "g") if g.get("class") == "adiff-edge"}
    assert ("a", "exp") in edges and ("exp", "b") in edges


@pytest.mark.parametrize("cell", ["x = 0.0\ny = x ** 0.5\n", "a = 0.0\nb = 0.5\ny = a ** b\n",
                                  "x = 0.0\ny = sqrt(x) * 0\n"])
def test_a_graph_with_an_infinite_local_derivative_is_drawn(cell):
    # d(√x)/dx at 0 is inf: the edge widths, scaled by the gradients carried, must stay finite numbers
    from adiff_magic.graph import pictures
    from adiff_magic.parser import parse as parse_cell
    from adiff_magic.result import View
    from adiff_magic.runner import Options, run

    result, _ = run(parse_cell(cell), {}, Options(view=View(graph=True)))
    svg, png = pictures(result.graph)
    assert not re.search(r'="-?(nan|inf)"', svg)  # a gradient may read "nan"; no drawn size may be one
    assert png is not None and png.startswith(b"\x89PNG")


def test_tiles_are_laid_over_as_pillows_alpha_composite_does():
    # graph._over mixes only a tile's smoothed border over an edge; Pillow's alpha_composite is the oracle
    from PIL import Image

    from adiff_magic.graph import _over

    rng = np.random.default_rng(7)
    below = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
    below[::3, :, 3] = 0  # rows with nothing under the tile
    tile = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
    tile[5:15, 5:25, 3] = 255  # an opaque middle
    expected = Image.fromarray(below.copy(), "RGBA")
    expected.alpha_composite(Image.fromarray(tile, "RGBA"), (12, 9))
    pixels = below.copy()
    _over(pixels, tile, 12, 9)
    want = np.asarray(expected).astype(int)
    got = pixels.astype(int)
    assert np.abs(got[..., 3] - want[..., 3]).max() <= 1
    seen = want[..., 3] > 0  # a transparent pixel's colour is not part of the picture
    premultiplied = np.abs(got[..., :3] * got[..., 3:] - want[..., :3] * want[..., 3:]) / 255
    assert premultiplied[seen].max() <= 2
