"""The --graph picture: the recorded graph laid out left to right in layers, as standalone SVG or PNG.

Every text sits on a fill the picture draws itself and the lines are a mid grey, so the picture reads
on a white page and on a near-black one alike; the background stays transparent."""
from __future__ import annotations

import html
import io
import math
from bisect import bisect_right, insort
from collections import Counter, deque
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import Any, NamedTuple

import numpy as np

from .extras import Graph
from .fmt import fmt_short, short

MAX_NODES = 60  # a larger graph shows the nodes nearest the target, and says so in the picture

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
NAME_SIZE, TEXT_SIZE = 13, 12  # px
NAME_CHARS, VALUE_CHARS = 20, 20  # keeps a variable's box within ~200 px
VARIABLE_HEIGHT, FUNCTION_HEIGHT, DUMMY_HEIGHT, CHIP_HEIGHT = 62, 28, 12, 18
PAD, MARGIN, ROW_GAP, COLUMN_GAP, LABEL_ROOM, HEAD_ROOM = 10, 16, 22, 48, 40, 12
THIN, THICK, BASE = 1.2, 5.0, 1.6  # edge widths: no gradient, the largest one, and unknown
BEND = 24  # px between the middles of edges that join the same two nodes (x * x)
SWEEPS, ROUNDS = 4, 4  # barycenter sweeps down and up (order), and placement rounds (height)
CONSTANT = "constant"  # graph_of's name for an unnamed leaf: it sits next to its use, not with the inputs
LINE = "#8a8a8a"  # edges and arrows: 3.45:1 on white, 5.47:1 on #111
CLASS = "adiff-"  # prefixes the style classes, in case a renderer inlines the SVG into its page

# role: (fill, stroke); texts have no stroke. The dark palette is used inside the SVG only, when the
# page asks for it (prefers-color-scheme); the PNG and a light page get the light one.
LIGHT = {
    "ink": ("#1b1f24", None), "muted": ("#3d4550", None),
    "var": ("#e8f0fb", "#5b83b8"), "input": ("#e2f2e5", "#4e9a5c"), "target": ("#fde8cf", "#c4670f"),
    "fn": ("#ece7f7", "#8b74c0"), "chip": ("#fff5d6", LINE),
}
DARK = {
    "ink": ("#e6eaf0", None), "muted": ("#c3cad4", None),
    "var": ("#1f2d40", "#7aa2d6"), "input": ("#1d3524", "#6cbf7c"), "target": ("#40290f", "#f0a04b"),
    "fn": ("#2b2542", "#a793e0"), "chip": ("#2d2a20", LINE),
}


# ================================================================ layout


class Box(NamedTuple):
    """Where a node is drawn: its layer (column) and its rectangle, in px from the top left."""

    key: str
    layer: int
    x: float
    y: float
    width: float
    height: float


class Route(NamedTuple):
    """How an edge is drawn: a polyline from its source's box to its target's, and its label's centre."""

    edge: Any  # the GraphEdge
    points: tuple  # ((x, y), ...)
    label: tuple | None  # (x, y) of the local derivative's label, or None: no label


@dataclass(frozen=True)
class Layout:
    """Boxes for the nodes, routes for the edges (in the graph's order) and the picture's size."""

    boxes: dict  # key -> Box
    routes: tuple
    width: float
    height: float


def layout(graph: Graph, digits: int = 6) -> Layout:
    """A layered layout, left to right: each node in the column of its longest path from an input."""
    nodes = {node.key: node for node in graph.nodes}
    sizes = {key: _node_size(node, digits) for key, node in nodes.items()}
    layer = _layers(graph)
    columns, chains = _columns(graph, layer)
    up, down = _neighbours(chains, layer)
    columns = _order(columns, up, down)
    heights = {key: sizes[key][1] if key in sizes else DUMMY_HEIGHT for column in columns for key in column}
    ys = _place(columns, heights, up, down)
    top = min((ys[key] - heights[key] / 2 for key in ys), default=0.0) - MARGIN
    ys = {key: y - top for key, y in ys.items()}
    lefts, rights, width = _column_spans(columns, sizes, graph, nodes, digits)
    boxes = {}
    for i, column in enumerate(columns):
        centre = (lefts[i] + rights[i]) / 2
        for key in column:
            if key in sizes:
                w, h = sizes[key]
                boxes[key] = Box(key, i, centre - w / 2, ys[key] - h / 2, w, h)
    xs = {key: (lefts[layer[key]] + rights[layer[key]]) / 2 for key in ys}
    routes = _routes(graph, nodes, chains, boxes, xs, ys, lefts, rights, layer)
    height = max((ys[key] + heights[key] / 2 for key in ys), default=0.0) + MARGIN
    return Layout(boxes, routes, width, max(height, 2 * MARGIN))


def _adjacency(graph: Graph) -> tuple:
    preds: dict = {node.key: [] for node in graph.nodes}
    succs: dict = {node.key: [] for node in graph.nodes}
    for edge in graph.edges:
        preds[edge.target].append(edge.source)
        succs[edge.source].append(edge.target)
    return preds, succs


def _layers(graph: Graph) -> dict:
    """key -> column: the longest path from a leaf; a constant goes just before its first use."""
    preds, succs = _adjacency(graph)
    layer: dict = {}
    for key in _topological(preds, succs):
        layer[key] = max((layer[p] + 1 for p in preds[key] if p in layer), default=0)
    for node in graph.nodes:
        if node.kind == "variable" and node.text == CONSTANT and not preds[node.key] and succs[node.key]:
            layer[node.key] = min(layer[s] for s in succs[node.key]) - 1
    return layer


def _topological(preds: dict, succs: dict) -> list:
    waiting = {key: len(p) for key, p in preds.items()}
    ready = deque(key for key, count in waiting.items() if not count)
    order = []
    while ready:
        key = ready.popleft()
        order.append(key)
        for s in succs[key]:
            waiting[s] -= 1
            if not waiting[s]:
                ready.append(s)
    placed = set(order)
    return order + [key for key in preds if key not in placed]  # a cycle: never in a recorded graph


def _columns(graph: Graph, layer: dict) -> tuple:
    """Keys per column, and per edge its chain of keys with a dummy in each column it passes."""
    columns: list = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in graph.nodes:
        columns[layer[node.key]].append(node.key)
    chains = []
    for i, edge in enumerate(graph.edges):
        chain = [edge.source]
        for column in range(layer[edge.source] + 1, layer[edge.target]):
            dummy = f"~{i}.{column}"
            layer[dummy] = column
            columns[column].append(dummy)
            chain.append(dummy)
        chains.append(chain + [edge.target])
    return columns, chains


def _neighbours(chains: list, layer: dict) -> tuple:
    up: dict = {}
    down: dict = {}
    for chain in chains:
        for a, b in pairwise(chain):
            if layer[b] == layer[a] + 1:
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
    return up, down


def _order(columns: list, up: dict, down: dict) -> list:
    """The columns reordered by barycenter sweeps; the order with the fewest crossings seen."""
    columns = [list(column) for column in columns]
    position = {key: i for column in columns for i, key in enumerate(column)}
    best, fewest = [list(c) for c in columns], _crossings(columns, down, position)
    passes = ((range(1, len(columns)), up), (range(len(columns) - 2, -1, -1), down))
    for _ in range(SWEEPS):
        for indices, neighbours in passes:
            for i in indices:
                columns[i] = _by_barycenter(columns[i], neighbours, position)
            crossings = _crossings(columns, down, position)
            if crossings < fewest:
                best, fewest = [list(c) for c in columns], crossings
    return best


def _by_barycenter(column: list, neighbours: dict, position: dict) -> list:
    def barycenter(key: str) -> float:
        near = neighbours.get(key)
        return sum(position[k] for k in near) / len(near) if near else position[key]

    column = sorted(column, key=lambda key: (barycenter(key), position[key]))
    position.update((key, i) for i, key in enumerate(column))
    return column


def _crossings(columns: list, down: dict, position: dict) -> int:
    """Pairs of edges that cross between neighbouring columns (counted as inversions)."""
    total = 0
    for column in columns[:-1]:
        seen: list = []
        for _, b in sorted((position[a], position[b]) for a in column for b in down.get(a, ())):
            total += len(seen) - bisect_right(seen, b)
            insort(seen, b)
    return total


def _place(columns: list, heights: dict, up: dict, down: dict) -> dict:
    """key -> the y of its centre: near the mean of its neighbours', in its column's order, never overlapping."""
    ys: dict = {}
    for column in columns:
        ys.update(zip(column, _spaced([0.0] * len(column), [heights[key] for key in column])))
    for _ in range(ROUNDS):
        for column in columns + columns[::-1]:
            wanted = [_mean([ys[k] for k in up.get(key, []) + down.get(key, [])], ys[key]) for key in column]
            ys.update(zip(column, _spaced(wanted, [heights[key] for key in column])))
    return ys


def _mean(values: list, default: float) -> float:
    return sum(values) / len(values) if values else default


def _spaced(wanted: list, heights: list) -> list:
    """The centres nearest ``wanted`` (least squares) that keep the boxes in order, ROW_GAP apart."""
    offsets = [0.0]
    for above, below in pairwise(heights):
        offsets.append(offsets[-1] + above / 2 + ROW_GAP + below / 2)
    # with z = y - offset the constraint is z nondecreasing: pool adjacent violators
    blocks: list = []
    for z in (w - o for w, o in zip(wanted, offsets)):
        blocks.append([z, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, count = blocks.pop()
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * count) / (blocks[-1][1] + count),
                          blocks[-1][1] + count]
    fitted = [mean for mean, count in blocks for _ in range(count)]
    return [z + o for z, o in zip(fitted, offsets)]


def _column_spans(columns: list, sizes: dict, graph: Graph, nodes: dict, digits: int) -> tuple:
    """(lefts, rights, width): each column as wide as its widest box, gaps wide enough for the labels."""
    column_of = {key: i for i, column in enumerate(columns) for key in column}
    room = [0.0] + [COLUMN_GAP] * (len(columns) - 1)  # the gap before each column
    for edge in graph.edges:
        if _has_label(edge, nodes):
            i = column_of[edge.target]
            room[i] = max(room[i], _label_width(edge.local, digits) + LABEL_ROOM)
    lefts, rights, x = [], [], float(MARGIN)
    for i, column in enumerate(columns):
        x += room[i]
        lefts.append(x)
        x += max((sizes[key][0] for key in column if key in sizes), default=0.0)
        rights.append(x)
    return lefts, rights, x + MARGIN


def _routes(graph: Graph, nodes: dict, chains: list, boxes: dict, xs: dict, ys: dict,
            lefts: list, rights: list, layer: dict) -> tuple:
    ports = _ports(graph, chains, boxes, ys)
    twins = Counter((edge.source, edge.target) for edge in graph.edges)
    seen: Counter = Counter()
    routes = []
    for i, (edge, chain) in enumerate(zip(graph.edges, chains)):
        source, target = boxes[edge.source], boxes[edge.target]
        start = (source.x + source.width, source.y + source.height / 2)
        end = (target.x, target.y + target.height / 2 + ports[i])
        points = (start, *((xs[key], ys[key]) for key in chain[1:-1]), end)
        count = twins[edge.source, edge.target]
        if count > 1 and len(points) == 2:
            k = seen[edge.source, edge.target]
            seen[edge.source, edge.target] += 1
            points = _curve(start, end, (k - (count - 1) / 2) * 2 * BEND)
        label = None
        if _has_label(edge, nodes):
            column = layer[edge.target]  # a function's column is never the first
            x = (rights[column - 1] + lefts[column] - HEAD_ROOM) / 2  # mid-gap, clear of the arrowhead
            label = (x, _y_at(points, x))
        routes.append(Route(edge, points, label))
    return tuple(routes)


def _ports(graph: Graph, chains: list, boxes: dict, ys: dict) -> list:
    """Per edge, how far below its target's middle it arrives: several inputs come in side by side."""
    incoming: dict = {}
    for i, (edge, chain) in enumerate(zip(graph.edges, chains)):
        incoming.setdefault(edge.target, []).append((ys[chain[-2]], i))
    offsets = [0.0] * len(chains)
    for target, arrivals in incoming.items():
        step = min(10.0, (boxes[target].height - 10) / max(len(arrivals) - 1, 1))
        for k, (_, i) in enumerate(sorted(arrivals)):
            offsets[i] = (k - (len(arrivals) - 1) / 2) * step
    return offsets


def _curve(start: tuple, end: tuple, bend: float, steps: int = 12) -> tuple:
    """A quadratic Bézier from start to end, its control point ``bend`` px below the middle, as points."""
    cx, cy = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bend
    return tuple(((1 - t) ** 2 * start[0] + 2 * (1 - t) * t * cx + t * t * end[0],
                  (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * cy + t * t * end[1])
                 for t in (k / steps for k in range(steps + 1)))


def _y_at(points: tuple, x: float) -> float:
    for (x0, y0), (x1, y1) in pairwise(points):
        if x0 <= x <= x1 and x1 > x0:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def _has_label(edge: Any, nodes: dict) -> bool:
    return getattr(edge, "local", None) is not None and nodes[edge.target].kind == "function"


# ================================================================ texts and sizes


def _node_lines(node: Any, digits: int) -> list:
    if node.kind == "function":
        return [short(node.text, NAME_CHARS)]
    grad = "—" if node.grad is None else _summary(node.grad, digits)
    return [short(node.text, NAME_CHARS), f"value {_summary(node.value, digits)}", f"grad {grad}"]


def _summary(value: Any, digits: int) -> str:
    """A number, or an array's first elements and its whole shape, in about VALUE_CHARS characters."""
    if value is None:
        return "—"
    array = np.asarray(value)
    if array.ndim == 0:
        return _number(array[()], digits)
    shape = str(array.shape)
    text = f"[{'…' if array.size else ''}] {shape}"
    items: list = []
    for k, item in enumerate(islice(array.flat, VALUE_CHARS)):
        items.append(_number(item, digits))
        candidate = f"[{', '.join(items)}{', …' if k + 1 < array.size else ''}] {shape}"
        if len(candidate) > VALUE_CHARS:
            break
        text = candidate
    return short(text, VALUE_CHARS + 4)  # only a shape of many dimensions is cut


def _number(value: Any, digits: int) -> str:
    try:
        return fmt_short(value, digits)
    except (TypeError, ValueError):  # a complex number, or an object
        return short(str(value), VALUE_CHARS)


def _label_text(local: float, digits: int) -> str:
    return "×" + _number(local, digits)


def _label_width(local: float, digits: int) -> float:
    return _text_width(_label_text(local, digits), TEXT_SIZE) + 10


NARROW = set(" .,:;'!|()[]{}-ijlrtf")


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """An estimate on the wide side (DejaVu Sans is wider than Helvetica or Arial)."""
    em = sum(0.36 if c in NARROW else 0.64 for c in text)
    return em * size * (1.1 if bold else 1.0)


def _node_size(node: Any, digits: int) -> tuple:
    lines = _node_lines(node, digits)
    if node.kind == "function":
        return max(56.0, _text_width(lines[0], NAME_SIZE) + 28), FUNCTION_HEIGHT
    widths = [_text_width(lines[0], NAME_SIZE, bold=True)] + [_text_width(line, TEXT_SIZE) for line in lines[1:]]
    return max(84.0, max(widths) + 2 * PAD), VARIABLE_HEIGHT


# ================================================================ the picture, painter-neutral


class _Rect(NamedTuple):
    x: float
    y: float
    width: float
    height: float
    radius: float
    role: str
    stroke: float


class _Text(NamedTuple):
    x: float  # centre
    y: float  # baseline
    text: str
    size: float
    role: str
    bold: bool = False


class _Line(NamedTuple):
    points: tuple
    width: float


class _Arrow(NamedTuple):
    points: tuple


class _Scene(NamedTuple):
    width: float
    height: float
    title: str
    groups: list  # tuples of shapes, painted in order; a text's group starts with the fill it sits on


def _scene(graph: Graph, digits: int) -> _Scene:
    shown, total = nearest(graph, MAX_NODES)
    roles = _roles(graph)  # of the whole graph: a variable whose function is cut off is still no input
    placed = layout(shown, digits)
    nodes = {node.key: node for node in shown.nodes}
    groups = [_edge_shapes(route, width) for route, width in zip(placed.routes, _edge_widths(shown))]
    groups += [_chip(_label_text(r.edge.local, digits), *r.label) for r in placed.routes if r.label]
    groups += [_node_shapes(nodes[key], box, roles[key], digits) for key, box in placed.boxes.items()]
    width, height = placed.width, placed.height
    caption = _caption(len(shown.nodes), total)
    if caption:
        chip_width = _text_width(caption, TEXT_SIZE) + 10
        groups.append(_chip(caption, MARGIN + chip_width / 2, height + CHIP_HEIGHT / 2))
        width, height = max(width, chip_width + 2 * MARGIN), height + CHIP_HEIGHT + MARGIN
    targets = [node.text for node in graph.nodes if roles[node.key] == "target"]
    title = (f"Computational graph of {', '.join(targets) or 'the target'}: "
             f"{sum(n.kind == 'variable' for n in graph.nodes)} variables, "
             f"{sum(n.kind == 'function' for n in graph.nodes)} functions")
    return _Scene(math.ceil(width), math.ceil(height), title, groups)


def _caption(shown: int, total: int) -> str:
    if not total:
        return "the graph is empty"
    return f"showing {shown} of {total} nodes nearest the target" if shown < total else ""


def nearest(graph: Graph, limit: int) -> tuple:
    """(the graph cut to the ``limit`` nodes nearest the target along reversed edges, its full size)."""
    total = len(graph.nodes)
    if total <= limit:
        return graph, total
    preds, succs = _adjacency(graph)
    distance = {key: 0 for key, after in succs.items() if not after}
    queue = deque(distance)
    while queue:
        key = queue.popleft()
        for p in preds[key]:
            if p not in distance:
                distance[p] = distance[key] + 1
                queue.append(p)
    ranked = sorted(range(total), key=lambda i: (distance.get(graph.nodes[i].key, math.inf), i))
    keep = {graph.nodes[i].key for i in ranked[:limit]}
    return Graph(tuple(n for n in graph.nodes if n.key in keep),
                 tuple(e for e in graph.edges if e.source in keep and e.target in keep)), total


def _roles(graph: Graph) -> dict:
    preds, succs = _adjacency(graph)
    return {node.key: "fn" if node.kind == "function" else "target" if not succs[node.key]
            else "input" if not preds[node.key] else "var" for node in graph.nodes}


def _edge_widths(graph: Graph) -> list:
    """Per edge, a stroke width growing with the gradient it carries, relative to the largest."""
    nodes = {node.key: node for node in graph.nodes}
    output = {e.source: e.target for e in graph.edges if nodes[e.source].kind == "function"}
    flows = []
    for edge in graph.edges:
        if nodes[edge.source].kind == "function":
            flows.append(_magnitude(nodes[edge.target].grad))
        else:
            after = _magnitude(nodes[output[edge.target]].grad) if edge.target in output else None
            local = getattr(edge, "local", None)
            flows.append(None if local is None or after is None else abs(local) * after)
    largest = max((f for f in flows if f is not None), default=0.0)
    return [BASE if f is None else THIN + (THICK - THIN) * f / largest if largest else THIN for f in flows]


def _magnitude(grad: Any) -> float | None:
    if grad is None:
        return None
    try:
        array = np.abs(np.asarray(grad, dtype=float))
    except (TypeError, ValueError):
        return None
    size = float(array.max()) if array.size else 0.0
    return size if math.isfinite(size) else None


def _edge_shapes(route: Route, width: float) -> tuple:
    """The edge's line, stopped short of its target, and an arrowhead touching the target's box."""
    (x0, y0), (x1, y1) = route.points[-2], route.points[-1]
    length = math.hypot(x1 - x0, y1 - y0) or 1.0
    dx, dy = (x1 - x0) / length, (y1 - y0) / length
    head, half = 7 + 1.4 * width, 3.5 + 0.9 * width
    bx, by = x1 - dx * head, y1 - dy * head
    arrow = ((x1, y1), (bx - dy * half, by + dx * half), (bx + dy * half, by - dx * half))
    points = route.points[:-1] + ((bx + dx, by + dy),)  # the round cap ends inside the head
    return _Line(points, width), _Arrow(arrow)


def _chip(text: str, x: float, y: float) -> tuple:
    """A text centred on (x, y) on its own small filled background."""
    width = _text_width(text, TEXT_SIZE) + 10
    return (_Rect(x - width / 2, y - CHIP_HEIGHT / 2, width, CHIP_HEIGHT, 4, "chip", 0.8),
            _Text(x, y + 4.5, text, TEXT_SIZE, "ink"))


def _node_shapes(node: Any, box: Box, role: str, digits: int) -> tuple:
    lines = _node_lines(node, digits)
    x = box.x + box.width / 2
    if node.kind == "function":
        return (_Rect(box.x, box.y, box.width, box.height, box.height / 2, "fn", 1.5),
                _Text(x, box.y + box.height / 2 + 4.8, lines[0], NAME_SIZE, "ink"))
    rect = _Rect(box.x, box.y, box.width, box.height, 8, role, 3.0 if role == "target" else 1.5)
    return (rect, _Text(x, box.y + 20, lines[0], NAME_SIZE, "ink", bold=True),
            _Text(x, box.y + 38, lines[1], TEXT_SIZE, "muted"), _Text(x, box.y + 54, lines[2], TEXT_SIZE, "muted"))


# ================================================================ SVG


def to_svg(graph: Graph, digits: int = 6) -> str:
    """A standalone SVG document of the graph: names, values, gradients and local derivatives."""
    scene = _scene(graph, digits)
    w, h = scene.width, scene.height
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'font-family="{FONT}" role="img">')
    parts = [head, f"<title>{_escape(scene.title)}</title>", _dark_style()]
    parts += ["<g>" + "".join(_svg_shape(shape) for shape in group) + "</g>" for group in scene.groups]
    parts.append("</svg>")
    return "\n".join(parts)


def _dark_style() -> str:
    rules = "".join(f".{CLASS}{role}{{fill:{fill}{f';stroke:{stroke}' if stroke else ''}}}"
                    for role, (fill, stroke) in DARK.items())
    return f"<style>@media (prefers-color-scheme: dark){{{rules}}}</style>"


def _svg_shape(shape: Any) -> str:
    if isinstance(shape, _Rect):
        fill, stroke = LIGHT[shape.role]
        return (f'<rect class="{CLASS}{shape.role}" x="{_px(shape.x)}" y="{_px(shape.y)}" '
                f'width="{_px(shape.width)}" height="{_px(shape.height)}" rx="{_px(shape.radius)}" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="{_px(shape.stroke)}"/>')
    if isinstance(shape, _Text):
        weight = ' font-weight="bold"' if shape.bold else ""
        return (f'<text class="{CLASS}{shape.role}" x="{_px(shape.x)}" y="{_px(shape.y)}" '
                f'font-size="{_px(shape.size)}" fill="{LIGHT[shape.role][0]}" text-anchor="middle"{weight}>'
                f"{_escape(shape.text)}</text>")
    points = " ".join(f"{_px(x)},{_px(y)}" for x, y in shape.points)
    if isinstance(shape, _Line):
        return (f'<polyline points="{points}" fill="none" stroke="{LINE}" stroke-width="{_px(shape.width)}" '
                'stroke-linecap="round" stroke-linejoin="round"/>')
    return f'<polygon points="{points}" fill="{LINE}"/>'


def _px(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


# ================================================================ PNG


DPI = 100


def to_png(graph: Graph, digits: int = 6) -> bytes | None:
    """The same picture as a PNG with a transparent background (light palette); None without matplotlib."""
    try:  # not pyplot: the notebook's own plotting state is left alone
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import FancyBboxPatch, Polygon
    except ImportError:
        return None
    scene = _scene(graph, digits)
    figure = Figure(figsize=(scene.width / DPI, scene.height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(0, scene.width)
    axes.set_ylim(scene.height, 0)  # y down, as in the SVG: one unit is one pixel
    axes.set_axis_off()
    pt = 72 / DPI  # matplotlib sizes are in points
    shapes = (shape for group in scene.groups for shape in group)
    for z, shape in enumerate(shapes):  # painted in the SVG's order, whatever matplotlib's default layers
        if isinstance(shape, _Rect):
            fill, stroke = LIGHT[shape.role]
            axes.add_patch(FancyBboxPatch((shape.x, shape.y), shape.width, shape.height, zorder=z,
                                          boxstyle=f"round,pad=0,rounding_size={shape.radius}",
                                          facecolor=fill, edgecolor=stroke, linewidth=shape.stroke * pt))
        elif isinstance(shape, _Text):
            axes.text(shape.x, shape.y, shape.text, fontsize=shape.size * pt, color=LIGHT[shape.role][0], zorder=z,
                      ha="center", va="baseline", family="sans-serif", weight="bold" if shape.bold else "normal")
        elif isinstance(shape, _Line):
            xs, ys = zip(*shape.points)
            axes.plot(xs, ys, color=LINE, linewidth=shape.width * pt, solid_capstyle="round",
                      solid_joinstyle="round", zorder=z)
        else:
            axes.add_patch(Polygon(shape.points, closed=True, facecolor=LINE, edgecolor="none", zorder=z))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, transparent=True)
    return buffer.getvalue()
