"""The --step view's model: the Recording of a run as plain data, step by step, at the recorded input
values or at others. Other values re-evaluate the recorded graph (engine.Replay), not the cell: its
statements ran once, and the branches it took on values are kept; the new graph is recorded by the
same code as the first (record.py), so this module only turns a Recording into frames.

Nothing here imports anywidget: the widget (widget.py) only shows what this module computes."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from typing import Any, NamedTuple, Optional

import numpy as np

from engine import Replay, Variable, functions_of

from . import extras
from .elements import ElementWalk, element_name, element_rule, named_variables
from .fmt import fmt_short, short
from .graph import MAX_NODES, nearest, to_svg
from .model import Place, Recording
from .paths import written_first
from .record import graph_of, record
from .arrayrules import broadcast_note, matrix_chain, matrix_form
from .layout import local_parts
from .render import OPERAND, WORDS, as_operand, check_lines, compact_step, element_lines, rule_sentence
from .result import View

SLIDER_STEPS = 400  # positions of a slider between its ends
MAX_SLIDERS = 10  # scalar inputs past these get no slider (the note says so)
STEP_ITEMS = 4  # an array in a step's text: this many items per axis at most, then '…'
GRID_ITEMS = 6  # an array's gradient on a click: this many rows and columns at most, then '…'
FLAT_ITEMS = 8  # an array of 3 or more axes: this many of its first values, flattened
MAX_SOURCES = 4  # a click on a variable lists at most this many steps that gave it a gradient
# the words the page shows as they are (step.js, and the first step's line); the others are in the lines
PAGE_WORDS = ("prev", "next", "play", "pause", "step_of", "before", "start", "paths_hint", "inputs", "view",
              "follows", "element hint", "elements of", "grad label", "legend hot", "legend from", "legend to",
              "legend pick", "quiz local", "quiz grad", "quiz right", "quiz rule", "quiz numbers", "quiz score",
              "quiz type")
MAX_CLICKABLE = 36  # an array of at most this many elements gets clickable elements (their sentences precomputed)
ELEMENT_CHARS = 16_000  # the elements of one model: at most this many characters of JSON, whole arrays only
ELEMENT_SECONDS = 1.0  # and at most this long to write them (arrays past either bound are said to be left out)

UI_WORDS = {
    "en": {
        "prev": "previous step", "next": "next step", "play": "play", "pause": "pause",
        "step_of": "step {k} of {n}", "before": "before the backward pass ({n} step{s})",
        "paths_hint": "click a variable for its chain rule", "inputs": "inputs", "grad label": "grad",
        "legend hot": "the function that runs", "legend from": "where its gradient comes from",
        "legend to": "where it goes", "legend pick": "the variable whose chain rule is shown",
        "quiz local": "the local derivative", "quiz grad": "the gradient it passes on",
        "quiz right": "✓ right", "quiz rule": "✗ not yet: the rule is {name} = {rule}; try again",
        "quiz numbers": "✗ it is {numbers}", "quiz score": "score: {k} of {n} right at the first try",
        "quiz type": "type your answer and press Enter",
        "view": "step through the backward pass", "start": "the target's gradient is seeded with 1; "
        "press ▶ (or →) to run the first step",
        "replay": "the sliders re-evaluate the recorded graph",
        "no paths": "no chain-rule sentence here: it is written for graphs of single numbers whose "
                    "backward runs on plain numbers",
        "array grad": "d{t}/d{name}, shape {shape}:",
        "no grad": "d{t}/d{name}: no gradient ({t} does not depend on it)",
        "grad from": "step {k}{where}: {function}.backward(d{t}/d{out} {gy}) → {shape}{added};  rule: {rule}",
        "added": ", added to the earlier gradient",
        "more sources": "… {n:,} more steps gave it a gradient (the trace has them)",
        "matrix chain": "in matrix form, through the named variables:",
        "sentence later": "the chain rule as a sentence is written for single numbers; above is what the "
                          "backward pass gave, as a matrix",
        "per element": "above is what the backward pass gave; click an element for its chain rule: the sum "
                       "over the paths through the elements it touches",
        "element hint": "click an element for its chain rule",
        "elements of": "the elements of d{t}/d{name}",
        "too many elements": "{name} has {n:,} elements: the elements are clickable for arrays of at most {most}; "
                             "--wrt \"{example}\" writes one element's chain rule in the text",
        "elements left out": "the elements of {name} are not clickable: the view writes the element sentences of "
                             "at most {chars:,} characters in {seconds:g} s (the arrays the cell binds first)",
        "array target": "the elements' chain rule is written for a target that is a single number",
        "step values": "values",
        "follows": "the picture scrolls itself to the step's nodes; scroll it to see the rest",
        "arrays": "sliders are given for inputs that are single numbers",
        "moved": "this view is at {now}; the table and the trace above stay at {then}, the values the cell ran with",
        "not moved": "this view is at the values the cell ran with, as the table and the trace above",
        "unused": "no path from {names} to {t}: {t} does not depend on it, so moving it changes nothing",
        "fewer sliders": "sliders for {k} of the {n:,} scalar inputs: the names the cell binds last, then first "
                         "bindings (w#1), then the largest |gradient|",
        "fewer steps": "the view steps through the {k:,} steps on the part of the graph it draws, nearest the "
                       "target; all {n:,} ran (they are in result.steps)",
    },
    "ko": {
        "prev": "이전 단계 previous step", "next": "다음 단계 next step", "play": "재생 play", "pause": "멈춤 pause",
        "step_of": "{n}단계 중 {k} step {k} of {n}", "before": "역전파 전 before the backward pass ({n}단계 step{s})",
        "paths_hint": "변수를 누르면 연쇄 법칙 click a variable for its chain rule", "inputs": "입력 inputs",
        "grad label": "grad", "legend hot": "실행 중인 함수 the function that runs",
        "legend from": "기울기가 오는 곳 where its gradient comes from", "legend to": "가는 곳 where it goes",
        "legend pick": "연쇄 법칙을 보이는 변수 the variable whose chain rule is shown",
        "quiz local": "국소 미분 the local derivative", "quiz grad": "전달하는 기울기 the gradient it passes on",
        "quiz right": "✓ 정답 right", "quiz rule": "✗ 아직 not yet: 규칙 the rule is {name} = {rule}; 다시 try again",
        "quiz numbers": "✗ 답 it is {numbers}", "quiz score": "점수 score: {n}개 중 {k}개 첫 시도에 정답 right at the first try",
        "quiz type": "답을 쓰고 Enter type your answer and press Enter",
        "view": "역전파 단계별 보기 step through the backward pass",
        "start": "목표의 기울기는 1로 시작 the target's gradient is seeded with 1; ▶ (또는 →)",
        "replay": "슬라이더는 기록된 그래프를 다시 계산 the sliders re-evaluate the recorded graph",
        "no paths": "연쇄 법칙은 스칼라 그래프에만 the chain rule is written for graphs of single numbers",
        "array grad": "d{t}/d{name}, 모양 shape {shape}:",
        "no grad": "d{t}/d{name}: 기울기 없음 no gradient ({t} does not depend on it)",
        "grad from": "{k}단계 step {k}{where}: {function}.backward(d{t}/d{out} {gy}) → {shape}{added};  규칙 rule: {rule}",
        "added": ", 더함 added to the earlier gradient",
        "more sources": "… {n:,}단계 더 {n:,} more steps gave it a gradient (the trace has them)",
        "matrix chain": "이름 붙은 변수를 거친 행렬 꼴 in matrix form, through the named variables:",
        "sentence later": "연쇄 법칙 문장은 스칼라에만 the chain rule as a sentence is written for single numbers; "
                          "above is what the backward pass gave, as a matrix",
        "per element": "원소를 누르면 그 연쇄 법칙 (그 원소를 지나는 경로의 합) above is what the backward pass gave; "
                       "click an element for its chain rule: the sum over the paths through the elements it touches",
        "element hint": "원소를 누르면 연쇄 법칙 click an element for its chain rule",
        "elements of": "d{t}/d{name}의 원소 the elements of d{t}/d{name}",
        "too many elements": "{name}의 원소 {n:,}개: 원소는 {most}개 이하의 배열에서만 누를 수 있음 {name} has {n:,} "
                             "elements: the elements are clickable for arrays of at most {most}; --wrt \"{example}\" "
                             "텍스트에 한 원소 writes one in the text",
        "elements left out": "{name}의 원소는 누를 수 없음 the elements of {name} are not clickable: 원소 문장은 "
                             "{chars:,}자, {seconds:g}초까지 at most {chars:,} characters in {seconds:g} s",
        "array target": "원소의 연쇄 법칙은 스칼라 목표에만 the elements' chain rule is written for a target that is "
                        "a single number",
        "step values": "값 values",
        "follows": "그림은 단계를 따라 스크롤 the picture scrolls itself to the step's nodes; scroll it to see the rest",
        "arrays": "슬라이더는 스칼라 입력에만 sliders are given for inputs that are single numbers",
        "moved": "이 보기는 {now}; 위의 표와 기록은 {then} this view is at {now}; the table and the trace above stay at {then}",
        "not moved": "위의 표와 같은 값 this view is at the values the cell ran with, as the table above",
        "unused": "{names}에서 {t}까지 경로 없음 no path from {names} to {t}: {t} does not depend on it, so "
                  "moving it changes nothing",
        "fewer sliders": "슬라이더는 스칼라 입력 {n:,}개 중 {k}개 sliders for {k} of the {n:,} scalar inputs",
        "fewer steps": "그린 부분의 {k:,}단계만 the view steps through the {k:,} steps on the part of the graph it "
                       "draws; all {n:,} ran (result.steps)",
    },
}


@dataclass(frozen=True)
class Step:
    """One backward step as the view shows it."""

    function: str  # the function's node key
    output: str  # its output's node key
    inputs: tuple  # its inputs' node keys
    lines: tuple  # the compact text: a header and one line per input
    grads: tuple  # (node key, text on this step, text after it): '16 → 32' then '32'


@dataclass(frozen=True)
class StepModel:
    """Everything the view shows, for every step: plain data."""

    target: str
    svg: str
    seed: tuple  # (target's node key, its gradient text) before any step
    steps: tuple  # Steps, in the order the engine ran them
    paths: dict  # variable node key -> the chain-rule lines from it to the target
    elements: dict  # array variable node key -> its clickable elements: {"name", "shape", "rows", "values",
    # "sentences"}: the grid that stands for paths' lines 1 to rows, and each element's chain rule, flat
    inputs: tuple  # slider specs: {"name", "value", "min", "max", "step"}
    notes: tuple
    words: dict  # the words the page shows itself (PAGE_WORDS), in the view's language
    forward: bool = False  # a forward-mode pass (tangentstep.py): a step's tangent flows from its inputs to its output
    quiz: tuple = ()  # --quiz: per step, its questions (one per input of single numbers, see _questions); () if off

    def at(self, k: int) -> dict:
        """The view after ``k`` steps: {"highlight", "grads", "lines"} (k = 0: before the first)."""
        k = max(0, min(k, len(self.steps)))
        grads = {key: "" for key in self.paths}
        grads[self.seed[0]] = self.seed[1]
        for step in self.steps[:k]:
            grads.update((key, after) for key, _, after in step.grads)
        if k == 0:
            return {"highlight": {"function": "", "output": "", "inputs": [], "forward": self.forward},
                    "grads": grads, "lines": [self.words["start"]]}
        step = self.steps[k - 1]
        grads.update((key, now) for key, now, _ in step.grads)
        highlight = {"function": step.function, "output": step.output, "inputs": list(step.inputs),
                     "forward": self.forward}
        return {"highlight": highlight, "grads": grads, "lines": list(step.lines)}


def step_model(recorded: Any, values: Optional[dict] = None, ranges: Optional[tuple] = None,
               frames: Any = None) -> StepModel:
    """The model of a Recorded run at its own input values (its Recording: nothing is computed again),
    or with ``values`` (input name -> number): the recorded graph rebuilt at them and recorded anew
    by the same code. ``ranges`` keeps the sliders' ends of an earlier model. ``frames`` turns the
    Recording into the model (default ``model_of``: the backward pass; tangentstep's: a forward pass)."""
    frames = frames or model_of
    changes = {variable: np.array(float(values[name]))
               for name, variable in recorded.inputs if values and name in values}
    if not changes:
        return frames(recorded.recording, recorded, recorded.inputs, ranges)
    new = Replay(recorded.target).rebuild(changes)
    old_of = {id(v): old for old, v in new.items()}
    inputs = tuple((name, new.get(variable, variable)) for name, variable in recorded.inputs)
    label = _renamed(recorded.label, old_of)
    recording = record(new[recorded.target], label, recorded.line, [(name, v) for name, v in inputs if v in old_of])
    model = frames(recording, recorded, inputs, ranges, Live(new[recorded.target], label))
    return replace(model, notes=(_moved_note(recorded, values),) + model.notes)


def _moved_note(recorded: Any, values: dict) -> str:
    """'this view is at x = 1; the table and the trace above stay at x = 0.5': the sliders moved it."""
    words = UI_WORDS[recorded.view.lang]
    moved = [(name, float(variable.data), float(values[name])) for name, variable in recorded.inputs
             if name in values and float(values[name]) != float(variable.data)]
    now = ", ".join(f"{name} = {fmt_short(new, recorded.view.digits)}" for name, _, new in moved)
    then = ", ".join(f"{name} = {fmt_short(old, recorded.view.digits)}" for name, old, _ in moved)
    return words["moved"].format(now=now, then=then) if moved else words["not moved"]


class Live(NamedTuple):
    """The graph a Recording was taken of, alive: its target Variable and the labeller of its variables."""

    target: Any
    label: Any


def model_of(recording: Recording, recorded: Any, inputs: tuple, ranges: Optional[tuple] = None,
             live: Optional[Live] = None) -> StepModel:
    """The StepModel of a Recording (of the graph ``live``; by default the recorded run's own): a view
    of it, as the static output is."""
    live = live or Live(recorded.target, recorded.label)
    view = recorded.view
    words = {**WORDS[view.lang], **UI_WORDS[view.lang]}
    target = recorded.target_name
    shown, _ = nearest(recording.graph, MAX_NODES)
    drawn = {node.key for node in shown.nodes}
    checks = {check.index: check for check in recording.checks}  # a learner's own backward, checked
    nodes = {node.key: node for node in shown.nodes}
    steps = tuple(Step(place.function, place.output, place.inputs,
                       _step_lines(step, checks.get(step.index), words, target, view.digits)
                       + _values_line(place, nodes, words, view.digits), _moves(place, view.digits))
                  for step, place in zip(recording.steps, recording.places) if place.function in drawn)
    seed = (recording.target_key, _grad_text(recording.seed, view.digits))
    notes = _notes(recorded, inputs, words)
    if len(steps) < len(recording.steps):
        notes += (words["fewer steps"].format(k=len(steps), n=len(recording.steps)),)
    elements, lasts = clickable(shown, recording, live, view, words, target, [name for name, _ in inputs])
    quiz = tuple(_questions(step, target, view.digits) for step, place in zip(recording.steps, recording.places)
                 if place.function in drawn) if view.quiz else ()
    return StepModel(target, to_svg(recording.graph, view.digits), seed, steps,
                     _paths(shown, recording, target, view, words, lasts), elements,
                     _sliders(inputs, ranges), notes, {key: UI_WORDS[view.lang][key] for key in PAGE_WORDS},
                     quiz=quiz)


def _questions(step: Any, target: str, digits: int) -> list:
    """--quiz: per input of single numbers, what the learner types (the local derivative, the gradient passed)
    and the two hints (the rule in the cell's letters, then with the numbers put in)."""
    questions = []
    for flow in step.flows:
        if flow.local is None or np.ndim(flow.grad) or not step.gy or np.ndim(step.gy[0]):
            continue
        out, name, t = as_operand(step.output, OPERAND), as_operand(flow.input, OPERAND), as_operand(target)
        parts = local_parts(flow.local, digits)
        incoming, passed = float(np.asarray(step.gy[0])), float(flow.grad)
        questions.append({"local_name": f"∂{out}/∂{name}", "local": flow.local.value, "rule": parts[0],
                          "numbers": " = ".join(parts[1:]) if len(parts) > 1 else parts[0],
                          "grad_name": f"d{t}/d{name}", "grad": passed,
                          "product": f"d{t}/d{out} × ∂{out}/∂{name} = {fmt_short(incoming, digits)} × "
                                     f"{fmt_short(flow.local.value, digits)} = {fmt_short(passed, digits)}"})
    return questions


def _step_lines(step: Any, check: Any, words: dict, target: str, digits: int) -> tuple:
    """The step's compact text, marked ✓ ✗ ? when it is a learner's own backward; a ✗ says what is wrong."""
    lines = compact_step(step, words, target, digits, check.verdict if check is not None else "")
    return tuple(lines + check_lines(check, digits))


def _values_line(place: Place, nodes: dict, words: dict, digits: int) -> tuple:
    """('values: h (1, 3) = [[0.0997, -0.379, 0.0997]];  W2 (3, 1) = …',) for a step on arrays: its
    output's and inputs' values, shape first, a few items each; () for a step on single numbers."""
    keys = dict.fromkeys((place.output, *place.inputs))
    shown = [nodes[key] for key in keys if key in nodes and nodes[key].value is not None]
    if not any(np.ndim(node.value) for node in shown):
        return ()
    parts = [f"{short(node.text, OPERAND)}{_shape(node.value)} = {bounded(node.value, digits)}" for node in shown]
    return (f"{words['step values']}: " + ";  ".join(parts),)


def _shape(value: Any) -> str:
    """' (1, 3)' after an array's name; '' for a single number."""
    return f" {np.shape(value)}" if np.ndim(value) else ""


def bounded(value: Any, digits: int, items: int = STEP_ITEMS) -> str:
    """An array's values nested as numpy writes them, ``items`` per axis at most and '…' where cut (three
    or more axes: its first FLAT_ITEMS values, flattened); a single number as itself."""
    array = np.asarray(value)
    if array.ndim > 2:
        flat = [fmt_short(v, digits) for v in array.flat[:FLAT_ITEMS]]
        return f"[{', '.join(flat)}{', …' if array.size > FLAT_ITEMS else ''}] (flattened)"
    return _nested(array, digits, items)


def _nested(array: np.ndarray, digits: int, items: int) -> str:
    if array.ndim == 0:
        return fmt_short(array, digits)
    parts = [_nested(row, digits, items) for row in array[:items]]
    return f"[{', '.join(parts + (['…'] if len(array) > items else []))}]"


def grid(value: Any, digits: int, items: int = GRID_ITEMS) -> list:
    """A matrix's values a row a line, as numpy prints it, ``items`` rows and columns at most and '…'
    where cut; another array on one line (bounded)."""
    array = np.asarray(value)
    if array.ndim != 2:
        return [bounded(array, digits, items)]
    rows = [_nested(row, digits, items) for row in array[:items]] + (["…"] if len(array) > items else [])
    return [("[" if i == 0 else " ") + row + ("]" if i == len(rows) - 1 else ",") for i, row in enumerate(rows)]


def _renamed(label: Any, old_of: dict) -> Any:
    """The cell's names for the new graph's variables: those of the recorded ones they stand for."""
    def new_label(v: Variable) -> Any:
        old = old_of.get(id(v))
        return label(old) if old is not None else None
    return new_label


def _moves(place: Place, digits: int) -> tuple:
    """(node key, text on this step, text after it) per gradient the step moves: '8 → 16', then '16' (an
    array's shape once, at the end: '[1, 2] → [2, 4] (2,)')."""
    moves = []
    for key, before, after in place.moves:
        text = _grad_text(after, digits)
        moves.append((key, text if before is None else f"{_grad_text(before, digits, shape=False)} → {text}", text))
    return tuple(moves)


def _grad_text(value: Any, digits: int, shape: bool = True) -> str:
    """A gradient on the picture: a number, or an array's first values ('…' when cut) and its shape."""
    array = np.asarray(value)
    if array.ndim == 0:
        return fmt_short(array, digits)
    items = f"[{', '.join(fmt_short(v, digits) for v in array.flat[:3])}{', …' if array.size > 3 else ''}]"
    return f"{items} {array.shape}" if shape else items


def _paths(shown: Any, recording: Recording, target: str, view: View, words: dict, lasts: dict) -> dict:
    """Variable node key -> the chain-rule lines from it to the target (for the nodes drawn); an array's
    last line is ``lasts``' for it, when given (what its elements offer)."""
    paths = {}
    for node in shown.nodes:
        if node.kind != "variable":
            continue
        rule = recording.node_rules.get(node.key)
        if node.key == recording.target_key:
            paths[node.key] = [f"d{target}/d{target} = 1"]
        elif rule is not None and rule.written:
            lines, note = rule_sentence(target, node.text, rule, view)
            paths[node.key] = lines + ([note] if note else [])
        else:  # arrays, or a local derivative that is not known: what the backward pass gave it
            paths[node.key] = _gradient_lines(node, recording, target, words, view.digits, lasts.get(node.key))
    return paths


def _gradient_lines(node: Any, recording: Recording, target: str, words: dict, digits: int,
                    last: Optional[str] = None) -> list:
    """A variable's gradient as the backward pass left it (a matrix a row a line, bounded), the steps
    that gave it (rule and shapes), and ``last``, else why there is no sentence."""
    name, t = as_operand(node.text), as_operand(target)
    if node.grad is None:
        return [words["no grad"].format(t=t, name=name)]
    if np.ndim(node.grad):
        lines = [words["array grad"].format(t=t, name=name, shape=np.shape(node.grad))] + grid(node.grad, digits)
    else:
        lines = [f"d{t}/d{name} = {fmt_short(node.grad, digits)}"]
    sources = _sources(node.key, recording, t, words)
    lines += sources[:MAX_SOURCES]
    if len(sources) > MAX_SOURCES:
        lines.append(words["more sources"].format(n=len(sources) - MAX_SOURCES))
    lines += _matrix_chain_lines(node, recording, t, words)
    return lines + [last or (words["sentence later"] if np.ndim(node.grad) else words["no paths"])]


def _matrix_chain_lines(node: Any, recording: Recording, t: str, words: dict) -> list:
    """An array's whole gradient in matrix form through the named variables (as --wrt W1 writes it)."""
    if not np.ndim(node.grad) or np.ndim(recording.seed):
        return []
    equations = matrix_chain(recording.steps, recording.target, node.text)
    if not equations:
        return []
    return [words["matrix chain"]] + [f"  d{t}/d{as_operand(label)} = {formula}, {shape}"
                                      for label, formula, shape in equations]


def _sources(key: str, recording: Recording, t: str, words: dict) -> list:
    """Per step that gave the variable ``key`` a gradient: a line with the function, the incoming
    gradient (its shape) and the shape passed, and the rule; then the matrix form of a MatMul's, or the
    sum that undoes a broadcast, in the cell's names and shapes."""
    nodes = {node.key: node for node in recording.graph.nodes}
    lines = []
    for step, place in zip(recording.steps, recording.places):
        for moved, before, after in place.moves:
            if moved != key:
                continue
            where = f", {words['line']} {step.lineno}" if step.lineno is not None else ""
            gy = step.gy[0] if step.gy else np.ones(())
            incoming = f"{np.shape(gy)}" if np.ndim(gy) else f"= {fmt_short(gy)}"
            lines.append(words["grad from"].format(
                k=step.index, where=where, function=step.function, t=t, out=as_operand(step.output, OPERAND),
                gy=incoming, shape=np.shape(after), added=words["added"] if before is not None else "", rule=step.rule))
            lines += _matrix_lines(step, nodes.get(key), t, words)
    return lines


def _matrix_lines(step: Any, node: Any, t: str, words: dict) -> list:
    """The step's matrix form for the variable ``node`` ('dloss/dW1 = xᵀ @ G: (2, 1) @ (1, 3) → (2, 3)',
    G its incoming gradient) and, for a broadcast input, the sum that undoes the broadcast: the trace's
    own sentences (arrayrules)."""
    flow = next((f for f in step.flows if node is not None and f.input == node.text), None)
    if flow is None:
        return []
    form = matrix_form(step, flow)
    lines = []
    if form is not None:
        formula, shapes = form
        g = f"d{t}/d{as_operand(step.output, OPERAND)}"
        lines.append(f"  d{t}/d{as_operand(flow.input)} = {formula}: {shapes}{np.shape(flow.grad)}, G = {g}")
    note = broadcast_note(step, flow, as_operand(flow.input, OPERAND), words["broadcast"])
    return lines + (["  " + note] if note else [])


# ---------------------------------------------------------------- an array's elements, each with its sentence

class _Asked(NamedTuple):
    """What render.element_lines reads of a GradResult: the elements asked for, the target, the view."""

    elements: tuple
    target: str
    view: View


def clickable(shown: Any, recording: Recording, live: Live, view: View, words: dict, target: str,
              inputs: list) -> tuple:
    """(elements, lasts) for the arrays drawn that the cell names: StepModel.elements for those of at
    most MAX_CLICKABLE elements (the inputs first, then nearest the target, while the sentences stay
    within ELEMENT_CHARS and ELEMENT_SECONDS), and node key -> the last line of each one's chain-rule
    lines: the hint, or why its elements are not clickable."""
    arrays = [node for node in shown.nodes if node.kind == "variable" and node.key != recording.target_key
              and node.grad is not None and np.ndim(node.grad)]
    variables, named = _live_graph(live, recording, target) if arrays else ({}, {})
    order = {name: k for k, name in enumerate(inputs)}  # the inputs as the cell binds them, then the rest
    arrays = sorted((node for node in arrays if id(variables.get(node.key)) in named),  # names the cell binds
                    key=lambda node: order.get(node.text, len(order)))
    if np.ndim(live.target.data):
        return {}, {node.key: words["array target"] for node in arrays}
    elements, lasts, used, full = {}, {}, 0, False
    deadline = time.monotonic() + ELEMENT_SECONDS
    walk = ElementWalk(live.target, named)  # one for all the arrays: their elements share the partials
    for node in arrays:
        size = int(np.size(node.grad))
        if size > MAX_CLICKABLE:
            example = element_name(node.text, (0,) * np.ndim(node.grad))
            lasts[node.key] = words["too many elements"].format(name=node.text, n=size, most=MAX_CLICKABLE,
                                                                example=example)
            continue
        entry = None if full else _elements_of(node, variables[node.key], live.target, named,
                                               _Asked((), target, view), deadline, walk)
        cost = len(json.dumps(entry)) if entry is not None else 0
        if entry is None or used + cost > ELEMENT_CHARS:  # past a bound: this array and the next are left out
            full = True
            lasts[node.key] = words["elements left out"].format(name=node.text, chars=ELEMENT_CHARS,
                                                                seconds=ELEMENT_SECONDS)
            continue
        elements[node.key], lasts[node.key], used = entry, words["per element"], used + cost
    return elements, lasts


def live_keys(live: Live, recording: Recording, functions: Optional[list] = None) -> dict:
    """Variable or Function -> node key, numbered as record.graph_of numbers the Recording's graph, by the
    same walk of the live graph; {} if that walk does not give the Recording's nodes."""
    keys: dict = {}
    graph = graph_of(functions if functions is not None else list(functions_of(live.target)), live.label,
                     lambda func, index: None, keys)
    same = [(n.key, n.text) for n in graph.nodes] == [(n.key, n.text) for n in recording.graph.nodes]
    return keys if same else {}


def _live_graph(live: Live, recording: Recording, target: str) -> tuple:
    """(node key -> Variable, for the Recording's graph; id(Variable) -> the cell's name, for every
    variable under the target that the cell binds, and the target): what element_rule reads. The keys
    are numbered as record.graph_of numbers them, by the same walk; ({}, {}) if they are not the Recording's."""
    functions = list(functions_of(live.target))
    keys = live_keys(live, recording, functions)
    if not keys:
        return {}, {}
    kinds = {node.key: node.kind for node in recording.graph.nodes}
    variables = {key: obj for obj, key in keys.items() if kinds[key] == "variable"}
    named = named_variables([live.target] + [x for func in functions for x in func.inputs], live.label,
                            live.target, target)
    return variables, named


def _elements_of(node: Any, variable: Any, target: Any, named: dict, asked: _Asked, deadline: float,
                 walk: ElementWalk) -> Optional[dict]:
    """An array's entry of StepModel.elements: its name and shape, how many of its chain-rule lines its
    grid stands for, its gradient's values and each element's sentence (render.element_lines), in flat
    order; None past the deadline."""
    grad = np.asarray(node.grad)
    sentences = []
    for index in np.ndindex(grad.shape):
        if time.monotonic() > deadline:
            return None
        rule = element_rule(target, named, node.text, variable, index, grad, walk)
        sentences.append("\n".join(element_lines(asked._replace(elements=(rule,)))))
    digits = asked.view.digits
    return {"name": node.text, "shape": list(grad.shape), "rows": len(grid(grad, digits)),
            "values": [fmt_short(v, digits) for v in grad.flat], "sentences": sentences}


def _sliders(inputs: tuple, ranges: Optional[tuple]) -> tuple:
    """A slider per input that is a single number, MAX_SLIDERS at most (those the chain rule writes first;
    the same ones as ``ranges``, an earlier model's sliders, if given): around its value, or with the
    ends it had."""
    ends = {spec["name"]: (spec["min"], spec["max"]) for spec in ranges or ()}
    sliders = []
    for name, variable in _slid(inputs, set(ends) if ranges else None):
        value = float(variable.data)
        reach = 2 * max(1.0, abs(value))
        low, high = ends.get(name, (value - reach, value + reach))
        sliders.append({"name": name, "value": value, "min": low, "max": high, "step": (high - low) / SLIDER_STEPS})
    return tuple(sliders)


def _slid(inputs: tuple, names: Optional[set]) -> list:
    """The (name, Variable) pairs that get a slider, in the cell's order."""
    scalars = [(name, v) for name, v in inputs if np.ndim(v.data) == 0]
    chosen = names if names is not None else {name for name, _ in written_first(scalars)[:MAX_SLIDERS]}
    return [(name, v) for name, v in scalars if name in chosen]


def _notes(recorded: Any, inputs: tuple, words: dict) -> tuple:
    scalars = sum(np.ndim(v.data) == 0 for _, v in inputs)
    notes = [words["replay"]] if scalars else []
    if scalars > MAX_SLIDERS:
        notes.append(words["fewer sliders"].format(k=MAX_SLIDERS, n=scalars))
    if recorded.unused:
        notes.append(words["unused"].format(names=", ".join(recorded.unused), t=recorded.target_name))
    if recorded.tested_lines:
        notes += extras.replay_notes(set(recorded.tested_lines), "--step")
    if any(np.ndim(v.data) for _, v in inputs):
        notes.append(words["arrays"])
    return tuple(notes)
