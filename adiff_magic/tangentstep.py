"""The --step --mode forward view's model: one forward-mode pass, the tangent of one scalar input pushed
along the recorded graph function by function in the order the forward pass ran them (the mirror of the
backward stepper), as the same StepModel frames; the page draws the tangent flowing from a function's
inputs to its output."""
from __future__ import annotations

from typing import Any, Optional

import numpy as np

from engine import Function, push_tangents

from .fmt import OPERAND, fmt_short, short
from .forward import _rule as tangent_rule
from .graph import MAX_NODES, nearest, to_svg
from .model import Recording
from .model import CONSTANT_NAME
from .paths import node_name
from .modes import dotted, grouped
from .layout import factor, local_parts
from .render import WORDS
from .stepper import PAGE_WORDS, UI_WORDS, Live, Step, StepModel, _sliders, bounded, live_keys
from .trace import local_derivative

FORWARD_WORDS = {
    "en": {
        "view": "step through the forward pass: the tangent of {x}",
        "before": "before the forward pass ({n} step{s})",
        "start": "{seed} = 1 seeds the pass (the other inputs' tangents are 0); press ▶ (or →) to run the first "
                 "function's forward-mode rule (jvp)",
        "paths_hint": "click a variable for its tangent",
        "which pass": "the pass of {x} (one of {n} scalar inputs; --wrt {other} steps that one's)",
        "no scalar": "forward stepping pushes the tangent of a scalar input, and this cell has none",
        "seed": "{seed} = 1: the pass starts here",
        "other input": "{dot} = 0: another input, held still in the pass of {x}",
        "made by": "made by step {k}: {sentence}",
        "untouched": "{dot} = 0: it does not depend on {x}",
        "constant": "a constant: its tangent is 0 in every pass",
        "legend from": "where its tangent comes from", "legend pick": "the variable whose tangent is shown",
        "numeric": "{names}: no forward-mode rule (jvp), so central differences of the forward (≈)",
    },
    "ko": {
        "view": "전진 모드 단계별 보기 step through the forward pass: {x}의 접선 the tangent of {x}",
        "before": "전진 패스 전 before the forward pass ({n}단계 step{s})",
        "start": "{seed} = 1로 시작 seeds the pass (다른 입력의 접선은 0); ▶ (또는 →)",
        "paths_hint": "변수를 누르면 접선 click a variable for its tangent",
        "which pass": "{x}의 패스 the pass of {x} (스칼라 입력 {n}개 중 하나; --wrt {other})",
        "no scalar": "전진 단계 보기는 스칼라 입력이 필요 forward stepping needs a scalar input",
        "seed": "{seed} = 1: 패스의 시작 the pass starts here",
        "other input": "{dot} = 0: 다른 입력 another input, held still in the pass of {x}",
        "made by": "{k}단계에서 made by step {k}: {sentence}",
        "untouched": "{dot} = 0: {x}와 무관 it does not depend on {x}",
        "constant": "상수 a constant: 접선은 언제나 0 its tangent is 0 in every pass",
        "legend from": "접선이 오는 곳 where its tangent comes from",
        "legend pick": "접선을 보이는 변수 the variable whose tangent is shown",
        "numeric": "{names}: jvp 없음, 전진 함수의 중앙 차분 central differences of the forward (≈)",
    },
}


def forward_model_of(recording: Recording, recorded: Any, inputs: tuple, ranges: Optional[tuple] = None,
                     live: Optional[Live] = None) -> StepModel:
    """The StepModel of one forward pass over the graph ``live`` (the one ``recording`` was taken of; by
    default the recorded run's own), as stepper.model_of is of the backward pass."""
    live = live or Live(recorded.target, recorded.label)
    view = recorded.view
    words = {**WORDS[view.lang], **UI_WORDS[view.lang], **FORWARD_WORDS[view.lang]}
    scalars = [(name, v) for name, v in inputs if np.ndim(v.data) == 0]
    shown, _ = nearest(recording.graph, MAX_NODES)
    svg = to_svg(recording.graph, view.digits)
    keys = live_keys(live, recording)
    if not scalars or not keys:
        page = _page_words(words, "x", "ẋ")
        page["start"] = words["no scalar"]
        return StepModel(recorded.target_name, svg, ("", ""), (), {}, {}, _sliders(inputs, ranges),
                         (words["no scalar"],), page, forward=True)
    seed_name, seed = scalars[0]
    numeric: set = set()
    with np.errstate(all="ignore"):
        tangents = push_tangents(live.target, {seed: np.ones(())}, rule=tangent_rule(numeric))
    drawn = {node.key: node for node in shown.nodes}
    names = {key: node.text for key, node in drawn.items()}
    functions = sorted((f for f in keys if isinstance(f, Function) and keys[f] in drawn), key=lambda f: f.generation)
    steps, made_by = [], {}
    for func in functions:
        if not any(x in tangents for x in func.inputs):
            continue
        output = func.outputs[0]()
        if output is None or output not in keys:
            continue
        sentence = _sentence(func, output, tangents, names, keys, live.label, seed_name, view.digits)
        where = f"{words['line']} {_line(live.label, output)}  " if _line(live.label, output) else ""
        head = f"{where}{type(func).__name__}.jvp → {dotted(short(names[keys[output]], OPERAND), seed_name)}"
        text = _tangent_text(tangents.get(output), view.digits)
        made_by[keys[output]] = (len(steps) + 1, sentence)
        ins = tuple(keys[x] for x in func.inputs if x in keys)
        steps.append(Step(keys[func], keys[output], ins, (head, sentence), ((keys[output], text, text),)))
    notes = _notes(scalars, seed_name, numeric, words)
    paths = _tangent_paths(drawn, keys, tangents, made_by, seed, [v for _, v in scalars], seed_name, words,
                           view.digits)
    return StepModel(recorded.target_name, svg, (keys.get(seed, ""), "1"), tuple(steps), paths, {},
                     _sliders(inputs, ranges), notes, _page_words(words, seed_name, dotted(seed_name, seed_name)),
                     forward=True)


def _line(label: Any, v: Any) -> Optional[int]:
    shown = label(v)
    return shown.lineno if shown is not None else None


def _sentence(func: Any, output: Any, tangents: dict, names: dict, keys: dict, label: Any, seed: str,
              digits: int) -> str:
    """'ȧ = 2·x·ẋ = 1 × 1 = 1': the output's tangent from the inputs', each times its local derivative."""
    def name(v: Any) -> str:  # as drawn (a node off the picture: the cell's label), cut as the trace cuts it
        return short(names.get(keys.get(v, ""), None) or node_name(label, v), OPERAND)

    out = dotted(name(output), seed)
    value = tangents.get(output)
    if np.ndim(value) or any(np.ndim(x.data) for x in func.inputs):
        sources = ", ".join(dotted(name(x), seed) for x in func.inputs if x in tangents)
        return f"{out} = jvp({sources}) = {bounded(value, digits)}"
    symbolic, numeric = [], []
    for index, x in enumerate(func.inputs):
        if x not in keys or label(x) is None and x.creator is None:
            continue  # a literal constant: its tangent is 0
        t = float(np.asarray(tangents.get(x, 0.0)))
        partial = _partial(func, index)
        local = local_derivative(func, index, 1.0, partial, label) if partial is not None else None
        rule = local_parts(local, digits)[0] if local is not None and local.template else \
            f"∂{name(output)}/∂{name(x)}"
        symbolic.append(f"{grouped(rule)}·{dotted(name(x), seed)}")
        numeric.append(f"{factor(partial, digits) if partial is not None else '?'} × {factor(t, digits)}")
    return f"{out} = {' + '.join(symbolic)} = {' + '.join(numeric)} = {fmt_short(float(value), digits)}"


def _partial(func: Any, index: int) -> Optional[float]:
    """∂output/∂input[index] of a function of single numbers, by its own forward-mode rule."""
    ones = [np.ones(()) if i == index else np.zeros(()) for i in range(len(func.inputs))]
    try:
        with np.errstate(all="ignore"):
            return float(np.asarray(tangent_rule(set())(func, *ones)))
    except Exception:  # a rule that fails on plain numbers
        return None


def _tangent_text(value: Any, digits: int) -> str:
    if value is None:
        return "0"
    array = np.asarray(value)
    if array.ndim == 0:
        return fmt_short(array, digits)
    items = ", ".join(fmt_short(v, digits) for v in array.flat[:3])
    return f"[{items}{', …' if array.size > 3 else ''}] {array.shape}"


def _tangent_paths(drawn: dict, keys: dict, tangents: dict, made_by: dict, seed: Any, scalars: list,
                   seed_name: str, words: dict, digits: int) -> dict:
    """Variable node key -> what a click shows: its tangent in this pass and the step that made it."""
    by_key = {key: v for v, key in keys.items()}
    paths = {}
    for key, node in drawn.items():
        if node.kind != "variable":
            continue
        v = by_key.get(key)
        dot = dotted(short(node.text, OPERAND), seed_name)
        if v is seed:
            paths[key] = [words["seed"].format(seed=dot)]
        elif key in made_by:
            k, sentence = made_by[key]
            spelled = "" if dot.startswith("d") else f" = d{node.text}/d{seed_name}"  # ẏ = dy/dx
            paths[key] = [f"{dot}{spelled} = {_tangent_text(tangents.get(v), digits)}",
                          words["made by"].format(k=k, sentence=sentence)]
        elif node.text == CONSTANT_NAME:
            paths[key] = [words["constant"]]
        elif any(v is x for x in scalars):
            paths[key] = [words["other input"].format(dot=dot, x=seed_name)]
        else:
            paths[key] = [words["untouched"].format(dot=dot, x=seed_name)]
    return paths


def _notes(scalars: list, seed_name: str, numeric: set, words: dict) -> tuple:
    notes = []
    if len(scalars) > 1:
        other = next(name for name, _ in scalars if name != seed_name)
        notes.append(words["which pass"].format(x=seed_name, n=len(scalars), other=other))
    if numeric:
        notes.append(words["numeric"].format(names=", ".join(sorted(numeric))))
    return tuple(notes)


def _page_words(words: dict, seed_name: str, seed_dot: str) -> dict:
    page = {key: words[key] for key in PAGE_WORDS}
    page["view"] = words["view"].format(x=seed_name)
    page["start"] = words["start"].format(seed=seed_dot)
    page["grad label"] = f"d/d{seed_name}"  # a node's number is its tangent in the pass of the seed
    return page
