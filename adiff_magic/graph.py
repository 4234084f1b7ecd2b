"""The --graph picture: the recorded graph laid out in layers, left to right; when that is too wide for a
notebook cell, either wrapped into rows (read like lines of text) or top to bottom, whichever is lower;
as standalone SVG or PNG.

Every text sits on a fill the picture draws itself and the lines are a mid grey, so the picture reads
on a white page and on a near-black one alike; the background stays transparent."""
from __future__ import annotations

import functools
import html
import importlib.util
import math
import os
import queue
import struct
import threading
import zlib
from bisect import bisect_left, bisect_right, insort
from collections import Counter, deque
from dataclasses import dataclass
from itertools import islice, pairwise
from typing import Any, NamedTuple

import numpy as np

from .model import CONSTANT_NAME, Graph  # a constant sits next to its use, not with the inputs
from .fmt import fmt_short, short

MAX_NODES = 60  # a larger graph shows the nodes nearest the target, and says so in the picture

FONT = "DejaVu Sans, Helvetica, Arial, sans-serif"
NAME_SIZE, TEXT_SIZE = 13, 12  # px
NAME_CHARS, VALUE_CHARS = 20, 20  # keeps a variable's box within ~200 px
VARIABLE_HEIGHT, FUNCTION_HEIGHT, DUMMY_HEIGHT, CHIP_HEIGHT = 62, 28, 12, 18
PAD, MARGIN, HEAD_ROOM = 10, 16, 12
ROW_GAP, COLUMN_GAP, LABEL_ROOM = 22, 32, 30  # left to right: between boxes in a column, columns, and labels
TB_SIDE_GAP, TB_ROW_GAP, TB_LABEL_ROOM = 28, 30, 36  # top to bottom: between boxes in a row, rows, and labels
LINE_ROOM, PINNED = 3.0, 1000.0  # a line's breadth and weight when the labels of a gap are spread
WIDTH = 420  # px: a picture fits this when it can (the output area at 150% zoom with the file browser open: 421 CSS px)
MAX_WIDTH = 840  # px: else at most this (the output area at 100% with the file browser open), when it can
TRACK, TRACK_ROOM = 8, 12  # px between the lines that carry a wrapped edge to the next row, and around them
MAX_WRAPPED = 3  # edges a wrap may carry to the next row: more would be a tangle, so the rows break elsewhere
THIN, THICK, BASE = 2.0, 5.0, 2.4  # edge widths: no gradient, the largest one, and unknown (2 px: a line
# at any position covers at least one whole pixel, so it keeps its full contrast on screen and in the PNG)
BEND = 24  # px between the middles of edges that join the same two nodes (x * x)
SWEEPS, ROUNDS = 4, 4  # barycenter sweeps down and up (order), and placement rounds (across)
LINE = "#7a7a7a"  # edges, arrows and a constant's border: 4.29:1 on white, 4.40:1 on #111
CLASS = "adiff-"  # prefixes the style classes, in case a renderer inlines the SVG into its page

# role: (fill, stroke); texts have no stroke. The light palette is the picture's own: an SVG shown as an
# <img> (JupyterLab, nbconvert) and the PNG always show it, on any page. The dark one is used only where
# the SVG is inline in a page that says it is dark (JupyterLab's Dark theme, the --step view's dark mode):
# inside an <img> nothing but the browser's prefers-color-scheme reaches the picture, and on a page that
# declares no color-scheme (an exported HTML) that is the operating system's, not the page's.
DARK_PAGES = ('body[data-jp-theme-light="false"]', ".adiff-step-dark")
LIGHT = {
    "ink": ("#1b1f24", None), "muted": ("#3d4550", None),
    "var": ("#e8f0fb", "#5b83b8"), "input": ("#e2f2e5", "#4e9a5c"), "target": ("#fde8cf", "#c4670f"),
    "const": ("#f0f0f0", LINE),
    "fn": ("#ece7f7", "#8b74c0"), "chip": ("#fff5d6", LINE),
}
DARK = {
    "ink": ("#e6eaf0", None), "muted": ("#c3cad4", None),
    "var": ("#1f2d40", "#7aa2d6"), "input": ("#1d3524", "#6cbf7c"), "target": ("#40290f", "#f0a04b"),
    "const": ("#262626", "#8a8a8a"),
    "fn": ("#2b2542", "#a793e0"), "chip": ("#2d2a20", LINE),
}


# ================================================================ layout
#
# The layout is made in abstract coordinates, (main, cross): along the layers (x left to right, y top to
# bottom) and across them, within a layer. An _Axis says what differs between the two orientations, and
# _oriented maps the finished layout to x and y. Until then a Box holds (main, cross, depth, breadth).


class Box(NamedTuple):
    """Where a node is drawn: its layer (column or row) and its rectangle, in px from the top left."""

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
    """Boxes for the nodes, routes for the edges (in the graph's order), the picture's size, and its
    orientation: 'LR' (inputs on the left, layers are columns, in one or more rows) or 'TB' (inputs on
    top, layers are rows)."""

    boxes: dict  # key -> Box
    routes: tuple
    width: float
    height: float
    orientation: str = "LR"
    rows: int = 1  # left to right, wrapped into this many rows: an edge to the next row turns at the right


class _Axis(NamedTuple):
    """What differs between the orientations, in px: main is along the layers, cross across them."""

    name: str  # 'LR' or 'TB'
    cross_gap: float  # between neighbours in a layer
    layer_gap: float  # between layers where no label sits
    label_room: float  # a gap with labels is this much deeper than its deepest label
    chip_gap: float  # across a gap, between neighbouring labels, or a label and a line
    port_step: float  # between inputs that arrive side by side
    port_inset: float  # of the target's breadth, kept free of arrivals (a function's rounded ends)

    def flip(self, main: float, cross: float) -> tuple:
        """(x, y) of (main, cross), or (main, cross) of (x, y): the same swap both ways."""
        return (main, cross) if self.name == "LR" else (cross, main)


AXES = {"LR": _Axis("LR", ROW_GAP, COLUMN_GAP, LABEL_ROOM, 4, 10, 10),
        "TB": _Axis("TB", TB_SIDE_GAP, TB_ROW_GAP, TB_LABEL_ROOM, 8, 16, FUNCTION_HEIGHT + 4)}


class _Skeleton(NamedTuple):
    """The orientation-free part of a layout: layers, their order, and the edges through them."""

    layer: dict  # key (a node's, or a dummy's: ~edge.layer) -> its layer
    layers: list  # per layer, its keys in order
    chains: list  # per edge, its keys: source, a dummy in each layer it passes, target
    up: dict  # key -> its neighbours in the layer before
    down: dict  # key -> its neighbours in the layer after


def layout(graph: Graph, digits: int = 6, orientation: str | None = None) -> Layout:
    """A layered layout: each node in the layer of its longest path from an input. Left to right ('LR')
    when that is at most WIDTH px wide; else the lowest of the pictures within WIDTH px (left to right
    wrapped into rows, or top to bottom), else the narrowest. ``orientation`` asks for 'LR' or 'TB'."""
    skeleton = _skeleton(graph)
    sizes = {node.key: _node_size(node, digits) for node in graph.nodes}
    if orientation:
        return _arrange(graph, skeleton, sizes, digits, AXES[orientation])
    wide = _arrange(graph, skeleton, sizes, digits, AXES["LR"])
    if wide.width <= WIDTH:
        return wide
    nodes = {node.key: node for node in graph.nodes}
    _, ends = _layer_spans(graph, nodes, skeleton, _extents(skeleton, sizes, AXES["LR"]), digits, AXES["LR"])
    wrapped = [_wrapped(wide, ends, budget, digits) for budget in (WIDTH, MAX_WIDTH)]
    candidates = [wide, _arrange(graph, skeleton, sizes, digits, AXES["TB"])] + [w for w in wrapped if w]
    return min(candidates, key=_unfit)


def _unfit(placed: Layout) -> tuple:
    """How badly a picture fits: within WIDTH, the lower the better; past it, the narrower."""
    return (0, placed.height, placed.width) if placed.width <= WIDTH else (1, placed.width, placed.height)


def _skeleton(graph: Graph) -> _Skeleton:
    layer = _layers(graph)
    layers, chains = _with_dummies(graph, layer)
    up, down = _neighbours(chains, layer)
    return _Skeleton(layer, _order(layers, up, down), chains, up, down)


def _extents(skeleton: _Skeleton, sizes: dict, axis: _Axis) -> dict:
    """key -> (depth, breadth) along ``axis``; a dummy point is DUMMY_HEIGHT broad."""
    return {key: axis.flip(*sizes[key]) if key in sizes else (0.0, DUMMY_HEIGHT) for key in skeleton.layer}


def _arrange(graph: Graph, skeleton: _Skeleton, sizes: dict, digits: int, axis: _Axis) -> Layout:
    """The skeleton placed along ``axis``: boxes, routes and labels, then mapped to x and y."""
    nodes = {node.key: node for node in graph.nodes}
    extent = _extents(skeleton, sizes, axis)
    cross = _place(skeleton.layers, {key: e[1] for key, e in extent.items()}, skeleton.up, skeleton.down,
                   axis.cross_gap)
    starts, ends = _layer_spans(graph, nodes, skeleton, extent, digits, axis)
    main = {key: (starts[i] + ends[i]) / 2 for key, i in skeleton.layer.items()}
    boxes = {key: Box(key, skeleton.layer[key], main[key] - depth / 2, cross[key] - breadth / 2, depth, breadth)
             for key, (depth, breadth) in extent.items() if key in nodes}
    centres = {key: (main[key], cross[key]) for key in skeleton.layer}
    routes = _routes(graph, nodes, skeleton, boxes, centres, starts, ends, digits, axis)
    return _oriented(boxes, routes, ends[-1] + MARGIN if ends else 2 * MARGIN, digits, axis)


def _adjacency(graph: Graph) -> tuple:
    preds: dict = {node.key: [] for node in graph.nodes}
    succs: dict = {node.key: [] for node in graph.nodes}
    for edge in graph.edges:
        preds[edge.target].append(edge.source)
        succs[edge.source].append(edge.target)
    return preds, succs


def _layers(graph: Graph) -> dict:
    """key -> layer: the longest path from a leaf; a constant goes just before its first use."""
    preds, succs = _adjacency(graph)
    layer: dict = {}
    for key in _topological(preds, succs):
        layer[key] = max((layer[p] + 1 for p in preds[key] if p in layer), default=0)
    for node in graph.nodes:
        if _is_constant(node) and not preds[node.key] and succs[node.key]:
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


def _with_dummies(graph: Graph, layer: dict) -> tuple:
    """Keys per layer, and per edge its chain of keys with a dummy in each layer it passes (added to ``layer``)."""
    layers: list = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for node in graph.nodes:
        layers[layer[node.key]].append(node.key)
    chains = []
    for i, edge in enumerate(graph.edges):
        chain = [edge.source]
        for between in range(layer[edge.source] + 1, layer[edge.target]):
            dummy = f"~{i}.{between}"
            layer[dummy] = between
            layers[between].append(dummy)
            chain.append(dummy)
        chains.append(chain + [edge.target])
    return layers, chains


def _neighbours(chains: list, layer: dict) -> tuple:
    up: dict = {}
    down: dict = {}
    for chain in chains:
        for a, b in pairwise(chain):
            if layer[b] == layer[a] + 1:
                down.setdefault(a, []).append(b)
                up.setdefault(b, []).append(a)
    return up, down


def _order(layers: list, up: dict, down: dict) -> list:
    """The layers reordered by barycenter sweeps and swaps of neighbours, from a few starting orders;
    the order with the fewest crossings seen."""
    best, fewest = layers, math.inf
    for start in _starts(layers, up, down):
        order, crossings = _sweep(start, up, down)
        if crossings < fewest:
            best, fewest = order, crossings
        if fewest == 0:  # none can do better: a chain, a loop drawn in its own order
            break
    return best


def _starts(layers: list, up: dict, down: dict) -> list:
    """Orders to sweep from: the graph's own, and depth-first walks back from the targets (through each
    function's inputs first to last, and last to first) and on from the inputs."""
    backwards = layers[::-1]
    flipped = {key: near[::-1] for key, near in up.items()}
    return [layers, _walked(layers, up, backwards), _walked(layers, flipped, backwards),
            _walked(layers, down, layers)]


def _walked(layers: list, links: dict, roots: list) -> list:
    """The layers in the order a depth-first walk along ``links`` first meets their keys, starting
    from each key of ``roots`` (layers) in turn."""
    rank: dict = {}
    for keys in roots:
        for root in keys:
            stack = [root]
            while stack:
                key = stack.pop()
                if key not in rank:
                    rank[key] = len(rank)
                    stack.extend(reversed(links.get(key, ())))
    return [sorted(keys, key=rank.__getitem__) for keys in layers]


def _sweep(layers: list, up: dict, down: dict) -> tuple:
    """(the best order seen in at most SWEEPS barycenter sweeps down and up from ``layers``, its
    crossings); a sweep that removes no crossing ends them."""
    layers = [list(keys) for keys in layers]
    position = {key: i for keys in layers for i, key in enumerate(keys)}
    best, fewest = [list(keys) for keys in layers], _crossings(layers, down, position)
    passes = ((range(1, len(layers)), up), (range(len(layers) - 2, -1, -1), down))
    for _ in range(SWEEPS):
        if fewest == 0:
            break
        before = fewest
        for indices, neighbours in passes:
            for i in indices:
                layers[i] = _by_barycenter(layers[i], neighbours, position)
            _transpose(layers, up, down, position)
            crossings = _crossings(layers, down, position)
            if crossings < fewest:
                best, fewest = [list(keys) for keys in layers], crossings
        if fewest == before:
            break
    return best, fewest


def _by_barycenter(keys: list, neighbours: dict, position: dict) -> list:
    def barycenter(key: str) -> float:
        near = neighbours.get(key)
        return sum(position[k] for k in near) / len(near) if near else position[key]

    keys = sorted(keys, key=lambda key: (barycenter(key), position[key]))
    position.update((key, i) for i, key in enumerate(keys))
    return keys


def _transpose(layers: list, up: dict, down: dict, position: dict) -> None:
    """Swaps neighbours in a layer, in place, while that removes crossings with the layers on both sides."""
    for _ in range(SWEEPS):
        swapped = False
        for keys in layers:
            for k in range(len(keys) - 1):
                a, b = keys[k], keys[k + 1]
                if _pair_crossings(b, a, up, down, position) < _pair_crossings(a, b, up, down, position):
                    keys[k], keys[k + 1] = b, a
                    position[a], position[b] = k + 1, k
                    swapped = True
        if not swapped:
            return


def _pair_crossings(a: str, b: str, up: dict, down: dict, position: dict) -> int:
    """Crossings between the edges of a and of b, were a just before b in their layer."""
    return sum(position[p] > position[q] for near in (up, down) for p in near.get(a, ()) for q in near.get(b, ()))


def _crossings(layers: list, down: dict, position: dict) -> int:
    """Pairs of edges that cross between neighbouring layers (counted as inversions)."""
    total = 0
    for keys in layers[:-1]:
        seen: list = []
        for _, b in sorted((position[a], position[b]) for a in keys for b in down.get(a, ())):
            total += len(seen) - bisect_right(seen, b)
            insort(seen, b)
    return total


def _place(layers: list, breadths: dict, up: dict, down: dict, gap: float) -> dict:
    """key -> its cross centre: near the mean of its neighbours', in its layer's order, never overlapping."""
    at: dict = {}
    for keys in layers:
        at.update(zip(keys, _spaced([0.0] * len(keys), [breadths[key] for key in keys], gap)))
    for _ in range(ROUNDS):
        for keys in layers + layers[::-1]:
            wanted = [_mean([at[k] for k in up.get(key, []) + down.get(key, [])], at[key]) for key in keys]
            at.update(zip(keys, _spaced(wanted, [breadths[key] for key in keys], gap)))
    return at


def _mean(values: list, default: float) -> float:
    return sum(values) / len(values) if values else default


def _spaced(wanted: list, sizes: list, gap: float, weights: list | None = None) -> list:
    """The centres nearest ``wanted`` (least squares, ``weights`` or 1 each) that keep items of these
    ``sizes`` in order, ``gap`` apart."""
    offsets = [0.0]
    for before, after in pairwise(sizes):
        offsets.append(offsets[-1] + before / 2 + gap + after / 2)
    # with z = centre - offset the constraint is z nondecreasing: pool adjacent violators
    blocks: list = []  # [mean, weight, count]
    for z, weight in zip((w - o for w, o in zip(wanted, offsets)), weights or [1.0] * len(wanted)):
        blocks.append([z, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            mean, weight, count = blocks.pop()
            total = blocks[-1][1] + weight
            blocks[-1] = [(blocks[-1][0] * blocks[-1][1] + mean * weight) / total, total, blocks[-1][2] + count]
    fitted = [mean for mean, _, count in blocks for _ in range(count)]
    return [z + o for z, o in zip(fitted, offsets)]


def _layer_spans(graph: Graph, nodes: dict, skeleton: _Skeleton, extent: dict, digits: int, axis: _Axis) -> tuple:
    """(starts, ends) along the main axis: each layer as deep as its deepest box, the gap before it
    deep enough for the labels of the edges that arrive in it."""
    room = [0.0] + [axis.layer_gap] * (len(skeleton.layers) - 1)  # the gap before each layer
    for edge in graph.edges:
        if _has_label(edge, nodes):
            i = skeleton.layer[edge.target]
            room[i] = max(room[i], _chip_extent(edge.local, digits, axis)[0] + axis.label_room)
    starts, ends, at = [], [], float(MARGIN)
    for i, keys in enumerate(skeleton.layers):
        at += room[i]
        starts.append(at)
        at += max((extent[key][0] for key in keys), default=0.0)
        ends.append(at)
    return starts, ends


def _chip_extent(local: float, digits: int, axis: _Axis) -> tuple:
    """(depth, breadth) of a label: its width along the layers left to right, its height top to bottom."""
    return axis.flip(_label_width(local, digits), CHIP_HEIGHT)


def _routes(graph: Graph, nodes: dict, skeleton: _Skeleton, boxes: dict, centres: dict, starts: list,
            ends: list, digits: int, axis: _Axis) -> tuple:
    """Per edge, a Route in (main, cross): out of the source's far side, through the dummies and the
    label, into the near side of the target at its port."""
    ports = _ports(graph, skeleton.chains, boxes, centres, axis)
    paths = []
    for i, (edge, chain) in enumerate(zip(graph.edges, skeleton.chains)):
        source, target = boxes[edge.source], boxes[edge.target]
        start = (source.x + source.width, source.y + source.height / 2)
        end = (target.x, target.y + target.height / 2 + ports[i])
        paths.append((start, *(centres[key] for key in chain[1:-1]), end))
    labels = _labels(graph, nodes, skeleton, paths, starts, ends, digits, axis)
    twins = Counter((edge.source, edge.target) for edge in graph.edges)
    seen: Counter = Counter()
    routes = []
    for edge, points, label in zip(graph.edges, paths, labels):
        pair = edge.source, edge.target
        if label:
            points = points[:-1] + (label, points[-1])  # the label sits on its line, wherever it was moved
        elif twins[pair] > 1 and len(points) == 2:
            points = _curve(*points, (seen[pair] - (twins[pair] - 1) / 2) * 2 * BEND)
            seen[pair] += 1
        routes.append(Route(edge, points, label))
    return tuple(routes)


def _ports(graph: Graph, chains: list, boxes: dict, centres: dict, axis: _Axis) -> list:
    """Per edge, how far across from its target's middle it arrives: several inputs come in side by
    side, in the order of where they come from."""
    incoming: dict = {}
    for i, (edge, chain) in enumerate(zip(graph.edges, chains)):
        incoming.setdefault(edge.target, []).append((centres[chain[-2]][1], i))
    offsets = [0.0] * len(chains)
    for target, arrivals in incoming.items():
        step = min(axis.port_step, max(boxes[target].height - axis.port_inset, 0.0) / max(len(arrivals) - 1, 1))
        for k, (_, i) in enumerate(sorted(arrivals)):
            offsets[i] = (k - (len(arrivals) - 1) / 2) * step
    return offsets


class _Passage(NamedTuple):
    """A line across the gap before a layer, where the labels of that gap sit."""

    cross: float  # where it passes the labels: the passages are spread in that order
    arrives: float  # the cross of its end (which comes first, of two passing at the same cross)
    start: tuple  # the (main, cross) point it leaves from
    breadth: float  # its label's, or LINE_ROOM
    edge: int | None  # the index of the edge it labels, or None: a line without a label


def _labels(graph: Graph, nodes: dict, skeleton: _Skeleton, paths: list, starts: list, ends: list,
            digits: int, axis: _Axis) -> list:
    """Per edge, the (main, cross) centre of its label, or None. A label sits mid-gap before its
    function, clear of the arrowhead, on its line; where labels or lines would meet across a gap, the
    labels move apart along it (the lines weigh far more, so they stay). A line that leaves from where
    a labelled one does is not in the way: near their source they overlap anyway."""
    gaps: dict = {}  # layer -> [_Passage]
    for i, (edge, chain, path) in enumerate(zip(graph.edges, skeleton.chains, paths)):
        for j, key in enumerate(chain[1:], 1):
            layer = skeleton.layer[key]
            labelled = j == len(chain) - 1 and _has_label(edge, nodes)
            breadth = _chip_extent(edge.local, digits, axis)[1] if labelled else LINE_ROOM
            at = _cross_at(path[j - 1], path[j], _label_main(starts, ends, layer))
            passage = _Passage(at, path[j][1], path[j - 1], breadth, i if labelled else None)
            gaps.setdefault(layer, []).append(passage)
    labels: list = [None] * len(paths)
    for layer, passages in gaps.items():
        shared = {p.start for p in passages if p.edge is not None}
        passages = sorted((p for p in passages if p.edge is not None or p.start not in shared),
                          key=lambda p: (p.cross, p.arrives))
        spread = _spaced([p.cross for p in passages], [p.breadth for p in passages], axis.chip_gap,
                         [PINNED if p.edge is None else 1.0 for p in passages])
        for passage, cross in zip(passages, spread):
            if passage.edge is not None:
                labels[passage.edge] = (_label_main(starts, ends, layer), cross)
    return labels


def _label_main(starts: list, ends: list, layer: int) -> float:
    """Mid-gap before ``layer``, moved back from the arrowheads."""
    return (ends[layer - 1] + starts[layer] - HEAD_ROOM) / 2


def _cross_at(p: tuple, q: tuple, main: float) -> float:
    """The cross coordinate of the segment p-q where it passes ``main``."""
    if q[0] - p[0] <= 0:
        return q[1]
    t = min(max((main - p[0]) / (q[0] - p[0]), 0.0), 1.0)
    return p[1] + (q[1] - p[1]) * t


def _curve(start: tuple, end: tuple, bend: float, steps: int = 12) -> tuple:
    """A quadratic Bézier from start to end, its control point ``bend`` px across from the middle, as points."""
    cm, cc = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bend
    return tuple(((1 - t) ** 2 * start[0] + 2 * (1 - t) * t * cm + t * t * end[0],
                  (1 - t) ** 2 * start[1] + 2 * (1 - t) * t * cc + t * t * end[1])
                 for t in (k / steps for k in range(steps + 1)))


def _oriented(boxes: dict, routes: tuple, length: float, digits: int, axis: _Axis) -> Layout:
    """The layout in x and y: everything moved across to start MARGIN px in, then flipped for 'TB'."""
    low, high = [], []
    for box in boxes.values():
        low.append(box.y)
        high.append(box.y + box.height)
    for route in routes:
        low += [c for _, c in route.points]
        high += [c for _, c in route.points]
        if route.label:
            half = _chip_extent(route.edge.local, digits, axis)[1] / 2
            low.append(route.label[1] - half)
            high.append(route.label[1] + half)
    shift = MARGIN - min(low, default=0.0)
    breadth = max(high, default=0.0) + shift + MARGIN

    def point(p: tuple) -> tuple:
        return axis.flip(p[0], p[1] + shift)

    placed = {key: Box(key, b.layer, *point((b.x, b.y)), *axis.flip(b.width, b.height)) for key, b in boxes.items()}
    moved = tuple(Route(r.edge, tuple(map(point, r.points)), r.label and point(r.label)) for r in routes)
    width, height = axis.flip(length, max(breadth, 2 * MARGIN))
    return Layout(placed, moved, width, height, axis.name)


# ---------------------------------------------------------------- wrapping a left-to-right layout into rows
#
# Layers [j, i) make a row, cut where fewest edges pass. A row takes the gap before its first layer (the
# labels of the edges arriving there), so an edge to the next row leaves its source to the right, turns
# down on a track of its own past the row's end, runs back left under the row, and comes down on
# another track at the left into the next row, where its label and target are. Tracks are ordered so
# that the lines of one wrap do not cross: a line leaving higher turns further out, runs lower, and
# comes in further in.


def _wrapped(wide: Layout, ends: list, budget: float, digits: int) -> Layout | None:
    """``wide`` (left to right, layer k ending at x = ``ends[k]``) in as few rows of at most ``budget``
    px as can be, then the fewest edges carried over and the narrowest; None when one row is all it
    takes, or no rows do."""
    passing = _passing(wide.routes, ends)
    rows = _rows(ends, [len(p) for p in passing], budget)
    if rows is None or len(rows) < 2:
        return None
    row_of, dx = {}, []  # layer -> its row; per row, how far its contents move along x
    for row, (j, i) in enumerate(rows):
        row_of.update((k, row) for k in range(j, i))
        dx.append(MARGIN + TRACK * len(passing[j]) - ends[j - 1] if j else 0.0)
    layer_of = functools.partial(_layer_at, ends)
    tops, bottoms = _row_spans(wide, [row_of[k] for k in range(len(ends))], layer_of, len(rows), digits)
    dy, at = [], float(MARGIN)
    for row, (j, i) in enumerate(rows):
        dy.append(at - tops[row])
        at += bottoms[row] - tops[row] + (_channel(len(passing[i])) if i < len(ends) else 0.0)
    rights = [ends[i - 1] + dx[row] for row, (j, i) in enumerate(rows)]
    turns = {}  # (route, point) of a carried edge -> (x it turns down at, y it runs back at, x it comes down at)
    for row, (j, i) in enumerate(rows[1:]):
        for (r, p), out, back in _tracks(wide.routes, passing[j]):
            turns[r, p] = (rights[row] + TRACK_ROOM + TRACK * out, bottoms[row] + dy[row] + TRACK_ROOM + TRACK * out,
                           MARGIN + TRACK * back)

    def moved(point: tuple) -> tuple:
        row = row_of[layer_of(point[0])]
        return point[0] + dx[row], point[1] + dy[row]

    boxes = {key: b._replace(x=b.x + dx[row_of[b.layer]], y=b.y + dy[row_of[b.layer]]) for key, b in wide.boxes.items()}
    routes = tuple(_rerouted(r, route, moved, turns) for r, route in enumerate(wide.routes))
    width = max(right + (_track_room(len(passing[i])) if i < len(ends) else 0.0)
                for right, (_, i) in zip(rights, rows)) + MARGIN
    return Layout(boxes, routes, width, at + MARGIN, "LR", len(rows))


def _layer_at(ends: list, x: float) -> int:
    """The layer whose stretch of x, (ends[k - 1], ends[k]], holds ``x``."""
    return min(bisect_left(ends, x - 1e-6), len(ends) - 1)


def _passing(routes: tuple, ends: list) -> list:
    """Per layer k, the (route index, point index) of the segments that pass into it from before it."""
    passing: list = [[] for _ in ends]
    for r, route in enumerate(routes):
        for p, (a, b) in enumerate(pairwise(route.points)):
            for k in range(_layer_at(ends, a[0]) + 1, _layer_at(ends, b[0]) + 1):
                passing[k].append((r, p))
    return passing


def _track_room(carried: int) -> float:
    """px past a row's end for the tracks of the edges it carries over."""
    return TRACK_ROOM + TRACK * (carried - 1) if carried else 0.0


def _channel(carried: int) -> float:
    """px between two rows, where the edges carried over run back left."""
    return 2 * TRACK_ROOM + TRACK * max(carried - 1, 0)


def _rows(ends: list, carried: list, budget: float) -> list | None:
    """The layers cut into rows [(j, i), ...]: fewest rows of at most ``budget`` px, then fewest edges
    ``carried`` over the cuts, then the narrowest widest row; None when no cut fits."""
    count = len(ends)
    best: list = [None] * (count + 1)  # best[i]: (rows, carried, widest, cuts) for layers [0, i)
    best[0] = (0, 0, 0.0, ())
    for i in range(1, count + 1):
        if i < count and carried[i] > MAX_WRAPPED:
            continue
        for j in range(i):
            if best[j] is None:
                continue
            left = MARGIN + TRACK * carried[j] - ends[j - 1] if j else 0.0
            width = ends[i - 1] + left + (_track_room(carried[i]) if i < count else 0.0) + MARGIN
            if width > budget:
                continue
            rows, moved, widest, cuts = best[j]
            option = (rows + 1, moved + (carried[j] if j else 0), max(widest, width), cuts + ((j, i),))
            if best[i] is None or option[:3] < best[i][:3]:
                best[i] = option
    return list(best[count][3]) if best[count] else None


def _row_spans(wide: Layout, row_of: list, layer_of: Any, count: int, digits: int) -> tuple:
    """(tops, bottoms): per row, the y its boxes, lines and labels take, before the move."""
    tops, bottoms = [math.inf] * count, [-math.inf] * count

    def take(layer: int, low: float, high: float) -> None:
        row = row_of[layer]
        tops[row], bottoms[row] = min(tops[row], low), max(bottoms[row], high)

    for box in wide.boxes.values():
        take(box.layer, box.y, box.y + box.height)
    for route in wide.routes:
        for x, y in route.points:
            take(layer_of(x), y, y)
        if route.label:
            take(layer_of(route.label[0]), route.label[1] - CHIP_HEIGHT / 2, route.label[1] + CHIP_HEIGHT / 2)
    return tops, bottoms


def _tracks(routes: tuple, carried: list) -> list:
    """Per edge carried over a cut, ((route, point), out, back): its track's rank from the inside at the
    right (and from the top under the row), and at the left. A line that leaves higher turns further
    out and runs lower; one that arrives higher comes in further in: no two of them cross when they
    leave and arrive in the same order."""
    def y(key: tuple, after: int) -> float:
        return routes[key[0]].points[key[1] + after][1]

    count = len(carried)
    leaving = sorted(carried, key=lambda key: (y(key, 0), y(key, 1)))
    arriving = sorted(carried, key=lambda key: (y(key, 1), y(key, 0)))
    back = {key: count - 1 - rank for rank, key in enumerate(arriving)}
    return [(key, count - 1 - rank, back[key]) for rank, key in enumerate(leaving)]


def _rerouted(r: int, route: Route, moved: Any, turns: dict) -> Route:
    """The route with each point moved into its row, and where it is carried over to the next row, the
    turns: right to its track, down, back left under the row, down its track at the left, right."""
    points = [moved(route.points[0])]
    for p, point in enumerate(route.points[1:]):
        after = moved(point)
        if (r, p) in turns:
            right, back, left = turns[r, p]
            points += [(right, points[-1][1]), (right, back), (left, back), (left, after[1])]
        points.append(after)
    return Route(route.edge, tuple(points), route.label and moved(route.label))


def _has_label(edge: Any, nodes: dict) -> bool:
    return getattr(edge, "local", None) is not None and nodes[edge.target].kind == "function"


# ================================================================ texts and sizes


def _node_lines(node: Any, digits: int) -> list:
    if node.kind == "function":
        return [short(node.text, NAME_CHARS)]
    value = f"value {_summary(node.value, digits)}"
    if _is_constant(node):
        return [short(node.text, NAME_CHARS), value]  # not an input: its gradient would only puzzle
    grad = "—" if node.grad is None else _summary(node.grad, digits)
    return [short(node.text, NAME_CHARS), value, f"grad {grad}"]


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
            if k == 0:  # the first value at least, at 3 digits: '[…]' alone tells a learner nothing
                first = f"[{_number(item, min(digits, 3))}{', …' if array.size > 1 else ''}] {shape}"
                text = first if len(first) <= VALUE_CHARS + 4 else text
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
        return max(48.0, _text_width(lines[0], NAME_SIZE) + 20), FUNCTION_HEIGHT
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
    grad_of: str = ""  # a variable's gradient line: its node's key (the --step view rewrites it)


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
    attrs: list  # per group, the attributes of its <g>: what it draws (the --step view finds nodes by them)


def _scene(graph: Graph, digits: int) -> _Scene:
    shown, total = nearest(graph, MAX_NODES)
    roles = _roles(graph)  # of the whole graph: a variable whose function is cut off is still no input
    placed = layout(shown, digits)
    nodes = {node.key: node for node in shown.nodes}
    groups = [_edge_shapes(route, width) for route, width in zip(placed.routes, _edge_widths(shown))]
    attrs = [_edge_attrs("edge", route.edge) for route in placed.routes]
    groups += [_chip(_label_text(r.edge.local, digits), *r.label) for r in placed.routes if r.label]
    attrs += [_edge_attrs("label", route.edge) for route in placed.routes if route.label]
    groups += [_node_shapes(nodes[key], box, roles[key], digits) for key, box in placed.boxes.items()]
    attrs += [{"class": f"{CLASS}node", "data-key": key, "data-kind": nodes[key].kind} for key in placed.boxes]
    width, height = placed.width, placed.height
    caption = _caption(len(shown.nodes), total)
    if caption:
        chip_width = _text_width(caption, TEXT_SIZE) + 10
        groups.append(_chip(caption, MARGIN + chip_width / 2, height + CHIP_HEIGHT / 2))
        attrs.append({"class": f"{CLASS}caption"})
        width, height = max(width, chip_width + 2 * MARGIN), height + CHIP_HEIGHT + MARGIN
    targets = [node.text for node in graph.nodes if roles[node.key] == "target"]
    title = (f"Computational graph of {', '.join(targets) or 'the target'}: "
             f"{sum(n.kind == 'variable' for n in graph.nodes)} variables, "
             f"{sum(n.kind == 'function' for n in graph.nodes)} functions")
    return _Scene(math.ceil(width), math.ceil(height), title, groups, attrs)


def _edge_attrs(kind: str, edge: Any) -> dict:
    return {"class": f"{CLASS}{kind}", "data-source": edge.source, "data-target": edge.target}


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
            else "const" if _is_constant(node) else "input" if not preds[node.key] else "var" for node in graph.nodes}


def _is_constant(node: Any) -> bool:
    """A literal number (the 2 of 2*x, the 1 of v*w + 1 inside a def): grey, and no gradient shown."""
    return node.kind == "variable" and node.text == CONSTANT_NAME


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
            flow = None if local is None or after is None else abs(local) * after
            flows.append(flow if flow is None or math.isfinite(flow) else None)  # 0 × inf: no width to scale
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
    if len(lines) == 2:  # a constant: its name and value, centred in the box
        return (rect, _Text(x, box.y + 27, lines[0], NAME_SIZE, "ink", bold=True),
                _Text(x, box.y + 45, lines[1], TEXT_SIZE, "muted"))
    return (rect, _Text(x, box.y + 20, lines[0], NAME_SIZE, "ink", bold=True),
            _Text(x, box.y + 38, lines[1], TEXT_SIZE, "muted"),
            _Text(x, box.y + 54, lines[2], TEXT_SIZE, "muted", grad_of=node.key))


# ================================================================ SVG


def pictures(graph: Graph, digits: int = 6, progress: Any = None) -> tuple[str, bytes | None]:
    """(to_svg, to_png) of the graph, laid out once; ``progress(what, done, total)`` hears of each stage."""
    progress = progress or (lambda what, done, total: None)
    what = "--graph: laying out and drawing the picture"
    progress(what, 0, 3)
    scene = _scene(graph, digits)
    progress(what, 1, 3)
    svg = _svg(scene)
    progress(what, 2, 3)
    png = _png(scene)
    progress(what, 3, 3)
    return svg, png


def to_svg(graph: Graph, digits: int = 6) -> str:
    """A standalone SVG document of the graph: names, values, gradients and local derivatives."""
    return _svg(_scene(graph, digits))


def _svg(scene: _Scene) -> str:
    w, h = scene.width, scene.height
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="{CLASS}graph" width="{w}" height="{h}" '
            f'viewBox="0 0 {w} {h}" font-family="{FONT}" role="img">')
    parts = [head, f"<title>{_escape(scene.title)}</title>", _dark_style()]
    parts += [f"<g{_attributes(attrs)}>" + "".join(_svg_shape(shape) for shape in group) + "</g>"
              for group, attrs in zip(scene.groups, scene.attrs)]
    parts.append("</svg>")
    return "\n".join(parts)


def _dark_style() -> str:
    """The dark palette as class rules, for a page that says it is dark; and the picture shrinks to
    its container (at no specificity: a page's own rule wins, as the --step view's scrolling does)."""
    # the page part counts for nothing (:where): the --step view's marks (step.css) outrank the palette
    rules = "".join(",".join(f":where({page}) .{CLASS}{role}" for page in DARK_PAGES) +
                    f"{{fill:{fill}{f';stroke:{stroke}' if stroke else ''}}}" for role, (fill, stroke) in DARK.items())
    return f"<style>:where(svg.{CLASS}graph){{max-width:100%;height:auto}}{rules}</style>"


def _svg_shape(shape: Any) -> str:
    if isinstance(shape, _Rect):
        fill, stroke = LIGHT[shape.role]
        return (f'<rect class="{CLASS}{shape.role}" x="{_px(shape.x)}" y="{_px(shape.y)}" '
                f'width="{_px(shape.width)}" height="{_px(shape.height)}" rx="{_px(shape.radius)}" '
                f'fill="{fill}" stroke="{stroke}" stroke-width="{_px(shape.stroke)}"/>')
    if isinstance(shape, _Text):
        weight = ' font-weight="bold"' if shape.bold else ""
        weight += f' data-grad="{_escape(shape.grad_of)}"' if shape.grad_of else ""
        return (f'<text class="{CLASS}{shape.role}" x="{_px(shape.x)}" y="{_px(shape.y)}" '
                f'font-size="{_px(shape.size)}" fill="{LIGHT[shape.role][0]}" text-anchor="middle"{weight}>'
                f"{_escape(shape.text)}</text>")
    points = " ".join(f"{_px(x)},{_px(y)}" for x, y in shape.points)
    if isinstance(shape, _Line):
        return (f'<polyline points="{points}" fill="none" stroke="{LINE}" stroke-width="{_px(shape.width)}" '
                'stroke-linecap="round" stroke-linejoin="round"/>')
    return f'<polygon points="{points}" fill="{LINE}"/>'


def _attributes(attrs: dict) -> str:
    return "".join(f' {name}="{_escape(value)}"' for name, value in attrs.items())


def _px(value: float) -> str:
    text = f"{value:.1f}"
    return text.removesuffix(".0")


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


# ================================================================ PNG


SCALE = 2  # the PNG is painted at twice its size and halved: smooth edges, where Pillow draws none
FONT_FILES = {False: "DejaVuSans.ttf", True: "DejaVuSans-Bold.ttf"}


def to_png(graph: Graph, digits: int = 6) -> bytes | None:
    """The same picture as a PNG with a transparent background (light palette); None without Pillow."""
    return _png(_scene(graph, digits))


def _png(scene: _Scene) -> bytes | None:
    try:
        from PIL import Image, ImageDraw
    except ImportError:
        return None
    # The scene draws every edge before any fill. The edges, all one grey, are painted into one mask
    # (how much of each pixel they cover); then each fill with its texts on a tile of its own size,
    # laid over them, top to bottom. No canvas of the whole picture in colour at twice its size: a
    # tall one is large. The rows above the next tile are final: they are deflated on another thread
    # (zlib lets go of Python's lock) while the tiles below are painted.
    red, green, blue = (int(LINE[i:i + 2], 16) for i in (1, 3, 5))
    words = np.frombuffer(_edge_mask(scene, Image, ImageDraw).tobytes(), np.uint8).astype("<u4")
    np.left_shift(words, 24, out=words)  # the edges' cover is the alpha of the line's grey
    np.bitwise_or(words, blue << 16 | green << 8 | red, out=words)
    pixels = words.view(np.uint8).reshape(scene.height, scene.width, 4)
    groups = sorted((group for group in scene.groups if isinstance(group[0], _Rect)), key=lambda g: g[0].y)
    with _Deflater(pixels) as deflater:
        for rect, *texts in groups:
            out = rect.stroke / 2
            left, top = max(0, math.floor(rect.x - out)), max(0, math.floor(rect.y - out))
            deflater.final_above(top)
            size = (math.ceil(rect.x + rect.width + out) - left, math.ceil(rect.y + rect.height + out) - top)
            tile = Image.new("RGBA", (size[0] * SCALE, size[1] * SCALE))
            _paint(ImageDraw.Draw(tile), rect, texts, left, top)
            _over(pixels, _array(tile.reduce(SCALE)), left, top)
    return _file(scene.width, scene.height, deflater.data)


def _edge_mask(scene: _Scene, Image: Any, ImageDraw: Any) -> Any:
    """How much of each pixel the edges and arrows cover, 0 to 255: painted at SCALE times, then halved."""
    mask = Image.new("L", (scene.width * SCALE, scene.height * SCALE))
    draw = ImageDraw.Draw(mask)
    for shape in (shape for group in scene.groups if not isinstance(group[0], _Rect) for shape in group):
        points = [_scaled(x, y) for x, y in shape.points]
        if isinstance(shape, _Line):
            draw.line(points, fill=255, width=round(shape.width * SCALE), joint="curve")
        else:
            draw.polygon(points, fill=255)
    return mask.reduce(SCALE)


def _over(pixels: np.ndarray, tile: np.ndarray, left: int, top: int) -> None:
    """Lays an RGBA tile over the pixels at (left, top), in place (Porter and Duff's "over"). Most of a
    tile is opaque, or lies on nothing: copied; only its smoothed border over an edge is mixed."""
    tile = np.ascontiguousarray(tile[:pixels.shape[0] - top, :pixels.shape[1] - left])
    region = pixels[top:top + tile.shape[0], left:left + tile.shape[1]]
    mixed = (tile[..., 3] < 255) & (region[..., 3] > 0)
    np.copyto(_words(region), _words(tile), where=~mixed)
    if mixed.any():
        above, below = tile[mixed].astype(np.float32), region[mixed].astype(np.float32)
        cover = above[:, 3:] / 255
        under = below[:, 3:] / 255 * (1 - cover)
        alpha = cover + under
        region[mixed] = np.rint(np.hstack([(above[:, :3] * cover + below[:, :3] * under) / alpha, alpha * 255]))


def _array(image: Any) -> np.ndarray:
    """A small RGBA image's pixels (np.asarray goes through Pillow's encoder, chunk by chunk)."""
    return np.frombuffer(image.tobytes(), np.uint8).reshape(image.height, image.width, 4)


def _words(pixels: np.ndarray) -> np.ndarray:
    """RGBA pixels seen as one 32-bit word each (red in the low byte, whatever the machine), without a copy."""
    return pixels.view("<u4")[..., 0]


class _Deflater:
    """Deflates the pixels' rows, each after its filter byte (0: none), on a thread of its own, as the
    caller declares them final; ``data`` is the whole stream once the ``with`` block ends."""

    def __init__(self, pixels: np.ndarray) -> None:
        self.pixels, self.done, self.data = pixels, 0, b""
        self.compressor = zlib.compressobj(3)  # level 3: level 1 is no faster here, and larger
        self.rows: queue.SimpleQueue = queue.SimpleQueue()
        self.parts: list = []
        self.worker = threading.Thread(target=self._work, daemon=True)

    def __enter__(self) -> "_Deflater":
        self.worker.start()
        return self

    def final_above(self, row: int) -> None:
        """Rows before ``row`` will not change: hand them to the thread."""
        if row > self.done:
            block = self.pixels[self.done:row]
            rows = np.zeros((len(block), 1 + block[0].size), np.uint8)
            rows[:, 1:] = block.reshape(len(block), -1)
            self.rows.put(rows)
            self.done = row

    def __exit__(self, *exc: Any) -> None:
        self.final_above(len(self.pixels))
        self.rows.put(None)
        self.worker.join()
        self.data = b"".join(self.parts)

    def _work(self) -> None:
        while (rows := self.rows.get()) is not None:
            self.parts.append(self.compressor.compress(rows))
        self.parts.append(self.compressor.flush())


def _scaled(x: float, y: float, left: float = 0, top: float = 0, shift: float = -0.5) -> tuple:
    """(x, y) in SCALE times the scene's px from (left, top); Pillow's (i, j) is the centre of pixel (i, j)."""
    return (x - left) * SCALE + shift, (y - top) * SCALE + shift


def _paint(draw: Any, rect: _Rect, texts: list, left: float, top: float) -> None:
    """A fill, its border (along its edge, as in the SVG: Pillow's is inside) and its texts."""
    fill, stroke = LIGHT[rect.role]
    out = rect.stroke / 2
    corners = [*_scaled(rect.x - out, rect.y - out, left, top, 0),  # the first pixels inside, and the last
               *_scaled(rect.x + rect.width + out, rect.y + rect.height + out, left, top, -1)]
    draw.rounded_rectangle(corners, (rect.radius + out) * SCALE, fill=fill, outline=stroke,
                           width=round(rect.stroke * SCALE))
    for text in texts:
        draw.text(_scaled(text.x, text.y, left, top, 0), text.text, fill=LIGHT[text.role][0], anchor="ms",
                  font=_font(round(text.size * SCALE), text.bold))


def _file(width: int, height: int, deflated: bytes) -> bytes:
    """A PNG file of RGBA rows, unfiltered, already deflated. Pillow's encoder tries four filters on
    every row: three times slower on a tall picture, and its file is no smaller."""
    header = struct.pack(">2I5B", width, height, 8, 6, 0, 0, 0)  # 8 bits a channel, RGBA, no interlace
    return b"\x89PNG\r\n\x1a\n" + b"".join(_chunk(kind, data) for kind, data in (
        (b"IHDR", header), (b"IDAT", deflated), (b"IEND", b"")))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@functools.cache
def _font(size: int, bold: bool) -> Any:
    """DejaVu Sans, as the SVG asks for: the system's, else matplotlib's copy, else Pillow's own font."""
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")  # found, not imported
    folders = (spec.submodule_search_locations or []) if spec else []
    name = FONT_FILES[bold]  # alone, Pillow looks for it in the system's font folders
    for font in [name] + [os.path.join(folder, "mpl-data", "fonts", "ttf", name) for folder in folders]:
        try:
            return ImageFont.truetype(font, size)
        except OSError:
            continue
    return ImageFont.load_default(size)
