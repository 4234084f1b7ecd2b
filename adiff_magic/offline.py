"""The --step view without a kernel: every step's frame, computed once in Python from the StepModel, and the
page's own stepper (static/step.js, the widget's module) run on them by a small script, as one text/html
output beside the widget. It steps, plays and answers clicks after a reopen with no kernel, in a trusted
copy, and in `jupyter nbconvert --to html` opened offline; the sliders say they need the live kernel.
An untrusted copy drops the script and the style: what is left is a static copy of all the steps, folded
so that it does not give them away. The widget, when it is live, hides this output (and this output hides
itself when the widget is there), so a page shows one stepper."""
from __future__ import annotations

import hashlib
import html
import json
from pathlib import Path

from .stepper import StepModel

STATIC = Path(__file__).parent / "static"  # the widget's module and style, read by the page here too

NO_KERNEL = {"en": "the sliders re-evaluate the graph in the kernel, and no kernel is running this view: run the "
                   "cell again to use them",
             "ko": "슬라이더는 커널이 필요 the sliders need the live kernel: run the cell again to use them"}
STATIC_COPY = {"en": "all {n} steps, as text (this page runs no scripts, so the stepper cannot run)",
               "ko": "모든 {n}단계 all {n} steps, as text (scripts do not run on this page)"}


def key_of(model: StepModel) -> str:
    """The id a widget and its offline twin share: from what they show, so that a notebook run again gives
    the same output (two views of the same steps share it, and hide each other's twin: no harm)."""
    shown = json.dumps([model.svg, model.seed, model.steps, model.paths], sort_keys=True, default=str)
    return hashlib.sha1(shown.encode("utf-8")).hexdigest()[:12]


def frames(model: StepModel) -> list:
    """Step 0 whole, then per step its highlight and lines and only the gradient texts that changed."""
    before = model.at(0)
    shown = [before]
    for k in range(1, len(model.steps) + 1):
        now = model.at(k)
        changed = {key: text for key, text in now["grads"].items() if before["grads"].get(key) != text}
        shown.append({"highlight": now["highlight"], "lines": now["lines"], "grads": changed})
        before = now
    return shown


def state(model: StepModel, lang: str) -> dict:
    """What the widget's traits hold, besides the step's: the page's stepper reads these."""
    return {"target": model.target, "svg": model.svg, "total": len(model.steps), "paths": model.paths,
            "elements": model.elements, "inputs": list(model.inputs),
            "values": {spec["name"]: spec["value"] for spec in model.inputs}, "notes": list(model.notes),
            "words": model.words, "quiz": list(model.quiz), "error": "", "no_kernel": NO_KERNEL[lang]}


def bundle(model: StepModel, key: str, lang: str = "en") -> dict:
    """The text/html (stepper, or a folded static copy where scripts do not run) and text/plain outputs."""
    data = json.dumps({"state": state(model, lang), "frames": frames(model)}, separators=(",", ":"))
    data = data.replace("</", "<\\/")  # never ends the script early
    module = (STATIC / "step.js").read_text(encoding="utf-8").replace("export default { render };", "return { render };")
    css = (STATIC / "step.css").read_text(encoding="utf-8")
    copy = _static_copy(model, lang)
    page = (f'<div class="adiff-offline" data-adiff-offline="{key}">{copy}<style>{css}</style>'
            f'<div class="adiff-offline-view"></div><script>(function () {{\n'
            f'const here = document.currentScript.parentElement;\n'
            f'const stepper = (function () {{\n{module}\n}})();\n'
            f'const data = {data};\n{SHIM}\n}})();</script></div>')
    return {"text/html": page, "text/plain": "\n".join(_all_lines(model))}


def _all_lines(model: StepModel) -> list:
    lines = [model.words.get("view", "")]
    for k, step in enumerate(model.steps, 1):
        lines += [f"{k}. {step.lines[0]}"] + [f"   {line}" for line in step.lines[1:]]
    return lines


def _static_copy(model: StepModel, lang: str) -> str:
    summary = html.escape(STATIC_COPY[lang].format(n=len(model.steps)))
    body = html.escape("\n".join(_all_lines(model)))
    return f'<details class="adiff-offline-copy"><summary>{summary}</summary><pre>{body}</pre></details>'


# The page's model: the widget's traits, from the frames; "step" recomputes the step's highlight, lines and
# gradients (those of every step up to it); "values" (a slider) cannot be served without a kernel.
SHIM = r"""
if (document.querySelector(`.adiff-step-root[data-adiff-key="${here.dataset.adiffOffline}"]`)) {
  here.hidden = true; // the live widget is on the page
  return;
}
const state = Object.assign({ step: 0 }, data.state, data.frames[0]);
const listeners = {};
const pending = new Set();
function at(k) {
  const grads = Object.assign({}, data.frames[0].grads);
  for (let i = 1; i <= k; i++) Object.assign(grads, data.frames[i].grads);
  const frame = data.frames[k];
  return { highlight: frame.highlight, lines: frame.lines, grads };
}
const model = {
  get: (key) => state[key],
  set(key, value) {
    if (key === "values") {
      state.error = state.no_kernel;
      pending.add("error");
      pending.add("inputs");
      return;
    }
    state[key] = value;
    pending.add(key);
    if (key === "step") {
      Object.assign(state, at(value));
      ["highlight", "lines", "grads"].forEach((k) => pending.add(k));
    }
  },
  save_changes() {
    const keys = [...pending];
    pending.clear();
    for (const key of keys) (listeners["change:" + key] || []).slice().forEach((f) => f());
  },
  on: (event, f) => (listeners[event] = listeners[event] || []).push(f),
  off: (event, f) => { listeners[event] = (listeners[event] || []).filter((g) => g !== f); },
};
here.querySelector(".adiff-offline-copy").hidden = true;
here.adiffStop = stepper.render({ model, el: here.querySelector(".adiff-offline-view") });
"""
