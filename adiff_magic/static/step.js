// The %%grad --step view: the cell's graph with its backward pass stepped through, one function at a
// time. Python owns the numbers (it derives highlight, grads, lines and paths from `step` and `values`);
// this module draws them and sends back what the learner asks for. Plain DOM, no network. Every word
// shown comes from the `words` trait (English or Korean); WORDS only covers a missing one.

const PLAY_MS = 1000; // one step a second
const LINES_SHARE = 0.4; // the step's text takes at most this share of the visible height (then scrolls)
const LINES_MIN = 90; // px: the step's text is never capped below this
const GRAPH_MIN = 140; // px: nor the picture's box below this (a very short window scrolls the page)
const EDGE = 8; // px kept between the view's edges and the window's
const SMOOTH_MS = 700; // a smooth scroll is over by then; what it left undone is done at once
const REVEAL_MS = 800; // after ◀ ▶ (or a step of play), the stage is kept in sight while the step arrives
const BLANK = "·"; // the gradient line of a variable the backward pass has not reached yet
const MARKS = ["adiff-step-current", "adiff-step-output", "adiff-step-input", "adiff-step-active"];
const WORDS = {
  prev: "previous step", next: "next step", play: "play", pause: "pause", step_of: "step {k} of {n}",
  before: "before the backward pass", paths_hint: "click a variable for its chain rule", inputs: "inputs",
  view: "step through the backward pass",
  follows: "the picture scrolls itself to the step's nodes; scroll it to see the rest",
  "element hint": "click an element for its chain rule", "elements of": "the elements of d{t}/d{name}",
  "grad label": "grad", "legend hot": "the function that runs", "legend from": "where its gradient comes from",
  "legend to": "where it goes", "legend pick": "the variable whose chain rule is shown",
};

// an element with attributes (on<event>: a listener) and children
function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// the host's theme: JupyterLab and VS Code say it on <body>; elsewhere the browser's preference
function hostIsDark() {
  const { dataset, classList } = document.body;
  if (dataset.jpThemeLight) return dataset.jpThemeLight === "false";
  if (/\bvscode-(dark|high-contrast)\b/.test(classList.value)) return !classList.contains("vscode-high-contrast-light");
  return !classList.contains("vscode-light") && matchMedia("(prefers-color-scheme: dark)").matches;
}

// The picture keeps its dark palette under @media (prefers-color-scheme: dark), which inline in a page
// follows the browser, not the notebook's theme: scope those rules under .adiff-step-dark instead.
function themedSvg(svg) {
  return svg.replace(/@media\s*\(prefers-color-scheme:\s*dark\)\s*\{((?:[^{}]*\{[^{}]*\})*)\s*\}/, (_, rules) =>
    rules.replace(/([^{}]+)\{/g, (__, sel) => sel.split(",").map((s) => `.adiff-step-dark ${s.trim()}`).join(",") + "{"));
}

function render({ model, el }) {
  const word = (key) => (model.get("words") || {})[key] || WORDS[key];
  const variable = (target) => target.closest?.(".adiff-node[data-kind=variable]");

  // ---------------------------------------------------------------- the DOM, built once
  const prev = h("button", { type: "button", class: "adiff-step-prev", onclick: () => go(-1, true) }, "◀");
  const play = h("button", { type: "button", class: "adiff-step-play", onclick: () => (timer ? stop() : start()) });
  const next = h("button", { type: "button", class: "adiff-step-next", onclick: () => go(1, true) }, "▶");
  const counter = h("span", { class: "adiff-step-counter", "aria-live": "polite" });
  const picture = h("div", { class: "adiff-step-picture", onclick: (event) => select(variable(event.target)) });
  const graph = h("div", { class: "adiff-step-graph" }, picture);
  const follows = h("div", { class: "adiff-step-follows" });
  const lines = h("pre", { class: "adiff-step-lines" });
  const paths = h("div", { class: "adiff-step-paths", "aria-live": "polite" });
  const sliders = h("div", { class: "adiff-step-sliders" });
  const title = h("div", { class: "adiff-step-title" });
  const inputs = h("div", { class: "adiff-step-inputs" }, title, sliders);
  const error = h("div", { class: "adiff-step-error", role: "alert" });
  const notes = h("div", { class: "adiff-step-notes" });
  const toolbar = h("div", { class: "adiff-step-toolbar" }, prev, play, next, counter);
  const legend = h("div", { class: "adiff-step-legend" }); // what the marks' colours mean
  // what a step changes, on one screen: the controls, the step's text, the picture in a box of the
  // height left (it follows the step); the chain rule, the sliders and the notes under it
  const stage = h("div", { class: "adiff-step-stage" }, toolbar, legend, lines, follows, graph);
  const root = h("div", { class: "adiff-step-root", tabindex: "0", role: "group", onkeydown: onKey },
    stage, paths, inputs, error, notes);
  el.append(root);
  // the offline twin of this view (offline.py), shown where no kernel serves it: hidden while this one lives
  const key = model.get("key") || "";
  if (key) {
    root.dataset.adiffKey = key;
    document.querySelectorAll(`[data-adiff-offline="${key}"]`).forEach((twin) => {
      twin.hidden = true;
      twin.adiffStop?.(); // its stepper stops and goes: one view of the steps on the page
      twin.querySelector(".adiff-offline-view")?.replaceChildren();
    });
  }

  let selected = ""; // the variable whose chain rule is shown
  let picked = -1; // the element of the selected array whose sentence is shown (flat index; -1: none)
  let timer = null; // the play loop
  let frame = 0; // a slider's pending send
  let settling = 0; // the pending fit of the boxes to the window
  let reveal = 0; // a step was asked for here until then (ms): bring the stage into the window as it is drawn
  let watched = null; // the clipping ancestor whose size is observed
  // the window, the notebook's panel (a file browser opened) or the view resized: fit again
  const resized = new ResizeObserver(() => settle());
  const dragging = new Set(); // names of the sliders held by the pointer

  // ---------------------------------------------------------------- stepping
  function go(delta, manual) {
    if (manual) stop();
    const step = Math.max(0, Math.min(model.get("total"), model.get("step") + delta));
    if (step === model.get("step")) return false;
    // the learner is looking at it (play goes on unseen without pulling the page): the step's marks and
    // text come from the kernel, in one message or a few, so the stage is kept in sight a moment
    reveal = onScreen(root) ? performance.now() + REVEAL_MS : 0;
    model.set("step", step);
    model.save_changes();
    return true;
  }

  function start() {
    if (model.get("step") >= model.get("total")) go(-model.get("total"), false); // from the top
    timer = setInterval(() => (go(1, false) && model.get("step") < model.get("total")) || stop(), PLAY_MS);
    drawToolbar();
  }

  function stop() {
    clearInterval(timer);
    timer = null;
    drawToolbar();
  }

  function onKey(event) {
    if (event.target.tagName === "INPUT") return event.stopPropagation(); // typing is not a notebook command
    if (event.altKey || event.ctrlKey || event.metaKey) return;
    const node = variable(event.target);
    const cell = event.target.closest?.(".adiff-step-element");
    const enter = event.key === "Enter" || event.key === " ";
    const act = { ArrowLeft: () => go(-1, true), ArrowRight: () => go(1, true) }[event.key]
      || (node && enter && (() => select(node))) || (cell && enter && (() => pick(Number(cell.dataset.index))));
    if (!act) return;
    event.preventDefault();
    event.stopPropagation();
    act();
  }

  // ---------------------------------------------------------------- drawing, one function per trait group
  function drawLegend() {
    const swatch = (kind, key) => h("span", {}, h("span", { class: `adiff-step-swatch ${kind}`, "aria-hidden": "true" }),
      word(key));
    legend.replaceChildren(swatch("hot", "legend hot"), swatch("from", "legend from"), swatch("to", "legend to"),
      swatch("pick", "legend pick"));
  }

  function drawToolbar() {
    const [step, total] = [model.get("step"), model.get("total")];
    root.setAttribute("aria-label", word("view"));
    play.textContent = word(timer ? "pause" : "play");
    play.setAttribute("aria-label", play.textContent);
    play.setAttribute("aria-pressed", String(!!timer));
    for (const [button, key, off] of [[prev, "prev", step <= 0], [next, "next", step >= total]]) {
      button.title = word(key);
      button.setAttribute("aria-label", button.title);
      if (off && button === document.activeElement) root.focus(); // the keys keep working
      button.disabled = off;
    }
    counter.textContent = word(step ? "step_of" : "before").replaceAll("{k}", step).replaceAll("{n}", total)
    .replaceAll("{s}", total === 1 ? "" : "s");
  }

  function drawSvg() {
    picture.innerHTML = themedSvg(model.get("svg") || "");
    for (const node of picture.querySelectorAll(".adiff-node[data-kind=variable]")) {
      node.setAttribute("tabindex", "0");
      node.setAttribute("role", "button");
      node.setAttribute("aria-label", node.querySelector("text")?.textContent || node.dataset.key);
    }
    drawHighlight();
    drawGrads();
    drawPaths();
  }

  function drawHighlight() {
    const { function: fn = "", output = "", inputs: ins = [], forward = false } = model.get("highlight") || {};
    for (const mark of MARKS) picture.querySelectorAll("." + mark).forEach((node) => node.classList.remove(mark));
    const mark = (key, cls) => key && picture.querySelector(`.adiff-node[data-key="${key}"]`)?.classList.add(cls);
    mark(fn, MARKS[0]);
    // backward: the gradient comes from the output (dashed) and goes to the inputs (blue); forward mode's
    // tangent comes from the inputs and goes to the output
    mark(output, MARKS[forward ? 2 : 1]);
    ins.forEach((key) => mark(key, MARKS[forward ? 1 : 2]));
    for (const edge of fn ? picture.querySelectorAll("[data-source][data-target]") : []) {
      const { source, target } = edge.dataset;
      if ((source === fn && target === output) || (target === fn && ins.includes(source))) edge.classList.add(MARKS[3]);
    }
    settle();
  }

  // ---------------------------------------------------------------- fitting the window
  // the ancestors that cut the view off (JupyterLab's notebook panel, a scrolled output), nearest first:
  // those with more content than height (an output area as tall as its content, or JupyterLab's shell in
  // its 0 px tall container, cuts nothing)
  function clippers() {
    const found = [];
    for (let node = root.parentElement; node && node !== document.documentElement; node = node.parentElement) {
      const cuts = node.clientHeight > 0 && node.scrollHeight > node.clientHeight + 1;
      if (cuts && getComputedStyle(node).overflowY !== "visible") found.push(node);
    }
    return found;
  }

  // the part of the window the learner sees the view through (client px): the window cut by every
  // clipping ancestor; the one that cuts most is watched for resizes (a file browser opened)
  function visible() {
    let [top, bottom, tightest] = [0, innerHeight, null];
    for (const node of clippers()) {
      const box = node.getBoundingClientRect();
      if (box.bottom - box.top < bottom - top) tightest = node;
      [top, bottom] = [Math.max(top, box.top), Math.min(bottom, box.bottom)];
    }
    if (tightest && tightest !== watched) resized.observe((watched = tightest));
    return { top, bottom };
  }

  // the nearest ancestor that scrolls up and down (the notebook), else none: the window
  const scroller = () => clippers().find((node) => /(auto|scroll|overlay)/.test(getComputedStyle(node).overflowY)) || null;

  const onScreen = (node) => {
    const { top, bottom } = node.getBoundingClientRect();
    const seen = visible();
    return bottom > seen.top && top < seen.bottom;
  };

  // the step's text and the picture's box share the visible height with the controls; the notice says
  // the picture scrolls when it does not fit its box
  function fitBoxes() {
    const { top, bottom } = visible();
    const room = bottom - top - 2 * EDGE - (root.offsetHeight - root.clientHeight) - 16; // borders, padding
    lines.style.maxHeight = `${Math.max(LINES_MIN, Math.round(room * LINES_SHARE))}px`;
    for (let pass = 0; pass < 2; pass++) { // the notice's line is counted once it shows
      const above = stage.offsetHeight - graph.offsetHeight;
      graph.style.maxHeight = `${Math.max(GRAPH_MIN, Math.floor(room - above))}px`;
      const overflows = graph.scrollHeight > graph.clientHeight + 1 || graph.scrollWidth > graph.clientWidth + 1;
      if (follows.hidden !== overflows) break;
      follows.hidden = !overflows;
    }
  }

  // the picture's box scrolls to the step's nodes (all of them when they fit, else the running function),
  // or before the first step to the target, where the backward pass starts
  function follow(smooth) {
    const marked = Array.from(picture.querySelectorAll(MARKS.slice(0, 3).map((m) => "." + m).join(",")));
    const groups = marked.length ? marked : [picture.querySelector("rect.adiff-target")?.closest(".adiff-node")].filter(Boolean);
    if (!groups.length) return;
    const rects = groups.map((g) => g.getBoundingClientRect());
    const all = {
      left: Math.min(...rects.map((r) => r.left)), right: Math.max(...rects.map((r) => r.right)),
      top: Math.min(...rects.map((r) => r.top)), bottom: Math.max(...rects.map((r) => r.bottom)),
    };
    const main = (picture.querySelector("." + MARKS[0]) || groups[0]).getBoundingClientRect();
    const fits = all.right - all.left <= graph.clientWidth && all.bottom - all.top <= graph.clientHeight;
    const want = fits ? all : main;
    const box = graph.getBoundingClientRect();
    const [left, top] = [box.left + graph.clientLeft, box.top + graph.clientTop];
    const inside = want.left >= left && want.right <= left + graph.clientWidth
      && want.top >= top && want.bottom <= top + graph.clientHeight;
    if (inside) return;
    graph.scrollTo({
      left: graph.scrollLeft + (want.left + want.right) / 2 - left - graph.clientWidth / 2,
      top: graph.scrollTop + (want.top + want.bottom) / 2 - top - graph.clientHeight / 2,
      behavior: smooth ? "smooth" : "auto",
    });
  }

  // the page (or the notebook) scrolls the least that shows the whole stage, its top first
  function revealStage() {
    const seen = visible();
    const { top, bottom } = stage.getBoundingClientRect();
    let delta = 0;
    if (top < seen.top + EDGE) delta = top - seen.top - EDGE;
    else if (bottom > seen.bottom - EDGE) delta = Math.min(bottom - seen.bottom + EDGE, top - seen.top - EDGE);
    if (!delta) return;
    const parent = scroller();
    if (parent) parent.scrollTop += delta;
    else window.scrollBy(0, delta);
  }

  // once per frame, after whatever changed: fit the boxes, follow the step, show the stage if asked
  function settle() {
    if (settling) return;
    settling = requestAnimationFrame(() => {
      settling = 0;
      fitBoxes();
      const asked = performance.now() < reveal;
      if (asked) revealStage();
      follow(asked);
      // a smooth scroll that the notebook's own layout cut short (a loaded machine) is finished at once
      if (asked) setTimeout(() => follow(false), SMOOTH_MS);
    });
  }

  function drawGrads() {
    const grads = model.get("grads") || {};
    const open = quizOpen() ? (model.get("highlight") || {}).inputs || [] : [];
    root.classList.toggle("adiff-step-quizzing", (model.get("quiz") || []).some((questions, k) =>
      questions.some((q, i) => !answer(k + 1, i, "local").done || !answer(k + 1, i, "grad").done)));
    for (const text of picture.querySelectorAll("text[data-grad]")) {
      if (!(text.dataset.grad in grads)) continue;
      const asked = open.includes(text.dataset.grad); // --quiz: not shown before it is typed
      text.textContent = word("grad label") + " " + (asked ? "?" : grads[text.dataset.grad] || BLANK);
      fit(text);
    }
  }

  // the box was sized for the final gradient; a longer text on the way ('1.44689 → 2.23733') is
  // squeezed into it rather than drawn over its border
  function fit(text) {
    text.removeAttribute("textLength");
    const rect = text.closest(".adiff-node")?.querySelector("rect");
    const room = rect ? rect.width.baseVal.value - 8 : Infinity;
    if (text.getComputedTextLength() > room) {
      text.setAttribute("textLength", room);
      text.setAttribute("lengthAdjust", "spacingAndGlyphs");
    }
  }

  // a step of the learner's own backward starts with its check: ✓ green, ✗ red, ? amber
  const CHECKS = { "✓": "adiff-step-ok", "✗": "adiff-step-wrong", "?": "adiff-step-unsure" };

  function drawLines() {
    const texts = model.get("lines") || [];
    const step = model.get("step");
    const questions = step ? (model.get("quiz") || [])[step - 1] || [] : [];
    if (questions.some((q, i) => !answer(step, i, "local").done || !answer(step, i, "grad").done)) {
      drawQuiz(texts[0], step, questions);
    } else {
      lines.replaceChildren(...texts.flatMap((text, i) => {
        const mark = CHECKS[text.charAt(0)];
        const line = mark ? [h("span", { class: mark }, text.charAt(0)), text.slice(1)] : [text];
        return i ? ["\n", ...line] : line;
      }), ...answered(step, questions), ...score(step));
    }
    lines.scrollTop = 0;
    settle();
  }

  // ---------------------------------------------------------------- --quiz: type each step's numbers first
  const answers = new Map(); // "step/question/part" -> {tries, done, first, said, shown}
  const QUIZ_PARTS = [["local", "local_name", "quiz local"], ["grad", "grad_name", "quiz grad"]];

  function quizOpen() { // the current step still asks for a number
    const step = model.get("step");
    const questions = step ? (model.get("quiz") || [])[step - 1] || [] : [];
    return questions.some((q, i) => !answer(step, i, "local").done || !answer(step, i, "grad").done);
  }

  function answer(step, i, part) {
    const key = `${step}/${i}/${part}`;
    if (!answers.has(key)) answers.set(key, { tries: 0, done: false, first: false, said: "", shown: "" });
    return answers.get(key);
  }

  function drawQuiz(head, step, questions) {
    const rows = [head];
    let first = null;
    questions.forEach((q, i) => {
      for (const [part, nameKey, what] of QUIZ_PARTS) {
        const state = answer(step, i, part);
        const box = h("input", { type: "text", inputmode: "decimal", size: "9", class: "adiff-quiz-box",
          "aria-label": `${q[nameKey]}: ${word(what)}`, placeholder: "?", title: word("quiz type") });
        if (state.done) { box.value = state.shown; box.disabled = true; } else first = first || box;
        box.addEventListener("keydown", (event) => {
          if (event.key !== "Enter") return;
          event.preventDefault();
          check(step, i, part, q, box.value);
        });
        const said = h("span", { class: state.first ? "adiff-quiz-right" : "adiff-quiz-said", "aria-live": "polite" },
          state.said);
        rows.push("\n", `${q[nameKey]} = `, box, "  ", said);
      }
    });
    const inside = root.contains(document.activeElement);
    lines.replaceChildren(...rows);
    if (inside && first) first.focus();
  }

  function check(step, i, part, q, text) {
    const state = answer(step, i, part);
    const value = Number(text.trim().replace("−", "-"));
    const expected = part === "local" ? q.local : q.grad;
    state.tries += 1;
    if (text.trim() && Number.isFinite(value) && Math.abs(value - expected) <= 0.005 * Math.abs(expected) + 5e-4) {
      Object.assign(state, { done: true, first: state.tries === 1, said: word("quiz right"), shown: text.trim() });
    } else if (state.tries === 1) { // the rule, in the cell's letters
      const rule = part === "local" ? q.rule : q.product.split(" = ")[0];
      state.said = word("quiz rule").replace("{name}", part === "local" ? q.local_name : q.grad_name).replace("{rule}", rule);
    } else { // then the numbers
      const numbers = part === "local" ? q.numbers : q.product;
      Object.assign(state, { done: true, said: word("quiz numbers").replace("{numbers}", numbers), shown: String(expected) });
    }
    drawLines();
    drawGrads();
  }

  function answered(step, questions) { // under the step's own text, what was said of each answer
    return questions.flatMap((q, i) => QUIZ_PARTS.flatMap(([part, nameKey]) => {
      const state = answer(step, i, part);
      return ["\n", h("span", { class: state.first ? "adiff-quiz-right" : "adiff-quiz-said" },
        `${q[nameKey]}: ${state.said}`)];
    }));
  }

  function score(step) {
    const quiz = model.get("quiz") || [];
    const n = quiz.reduce((sum, questions) => sum + 2 * questions.length, 0);
    if (!n || step < model.get("total")) return [];
    const k = [...answers.values()].filter((state) => state.first).length;
    return ["\n", h("strong", { class: "adiff-quiz-score" }, word("quiz score").replace("{k}", k).replace("{n}", n))];
  }

  function select(node) {
    if (!node) return;
    if (node.dataset.key !== selected) picked = -1;
    selected = node.dataset.key;
    drawPaths();
    showInSight(paths);
  }

  function drawPaths() {
    picture.querySelector(".adiff-step-selected")?.classList.remove("adiff-step-selected");
    picture.querySelector(`.adiff-node[data-key="${selected}"]`)?.classList.add("adiff-step-selected");
    const shown = (selected && (model.get("paths") || {})[selected]) || [];
    const entry = shown.length ? (model.get("elements") || {})[selected] : null;
    paths.classList.toggle("adiff-step-hint", !shown.length);
    if (!entry) {
      paths.textContent = shown.length ? shown.join("\n") : word("paths_hint");
      return;
    }
    // the gradient's grid (its lines 1 to rows) becomes a button per element, its sentence under it
    if (picked >= entry.values.length) picked = -1;
    const rest = shown.slice(1 + entry.rows);
    paths.replaceChildren(h("div", {}, shown[0]), elementGrid(entry), h("div", { class: "adiff-step-sentence" }),
      ...(rest.length ? [h("div", {}, rest.join("\n"))] : []));
    drawSentence(entry);
  }

  // 'W1[0,1]': the flat index i of an array of this shape, as numpy indexes it (the last axis fastest)
  function elementName(name, shape, i) {
    const index = [];
    for (let axis = shape.length - 1; axis >= 0; axis--) {
      index.unshift(i % shape[axis]);
      i = Math.floor(i / shape[axis]);
    }
    return index.length ? `${name}[${index.join(",")}]` : name;
  }

  // the elements in rows as numpy prints them (the last axis across; more axes: their rows one under another)
  function elementGrid({ name, shape, values }) {
    const label = word("elements of").replaceAll("{t}", model.get("target")).replaceAll("{name}", name);
    const buttons = values.map((value, i) => h("button", {
      type: "button", class: "adiff-step-element", "data-index": i, "aria-pressed": String(i === picked),
      "aria-label": elementName(name, shape, i), title: `${elementName(name, shape, i)} = ${value}`,
      onclick: () => pick(i),
    }, value));
    const grid = h("div", { class: "adiff-step-elements", role: "group", "aria-label": label }, ...buttons);
    grid.style.gridTemplateColumns = `repeat(${shape[shape.length - 1] || 1}, max-content)`;
    return h("div", { class: "adiff-step-elements-box" }, grid);
  }

  function drawSentence(entry) {
    const sentence = paths.querySelector(".adiff-step-sentence");
    sentence.classList.toggle("adiff-step-hint", picked < 0);
    sentence.textContent = picked < 0 ? word("element hint") : entry.sentences[picked];
  }

  function pick(i) { // in place: the focus stays on the element
    const entry = (model.get("elements") || {})[selected];
    if (!entry || !(i >= 0 && i < entry.values.length)) return;
    picked = i;
    for (const button of paths.querySelectorAll(".adiff-step-element")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.index) === i));
    }
    drawSentence(entry);
    showInSight(paths.querySelector(".adiff-step-sentence"));
  }

  function showInSight(node) { // what was asked for, under the picture: scrolled to if it is out of sight
    const seen = visible();
    const { top, bottom } = node.getBoundingClientRect();
    if (top >= seen.top && bottom <= seen.bottom) return;
    node.scrollIntoView({ block: "nearest", behavior: "smooth" });
  }

  // ---------------------------------------------------------------- the inputs: a slider and a box each
  function send(name, value) {
    const values = model.get("values") || {};
    if (!Number.isFinite(value) || values[name] === value) return;
    model.set("values", { ...values, [name]: value });
    model.save_changes();
  }

  function slider({ name, value, min, max, step }) {
    const range = h("input", { type: "range", min, max, step, "aria-label": name, "data-name": name });
    const box = h("input", { type: "number", step: "any", "aria-label": name, "data-name": name });
    [range.value, box.value] = [value, value];
    range.addEventListener("pointerdown", () => dragging.add(name));
    range.addEventListener("pointerup", () => dragging.delete(name));
    range.addEventListener("input", () => {
      box.value = range.value;
      cancelAnimationFrame(frame); // at most one send per frame
      frame = requestAnimationFrame(() => send(name, Number(range.value)));
    });
    range.addEventListener("change", () => {
      cancelAnimationFrame(frame);
      dragging.delete(name);
      send(name, Number(range.value));
    });
    box.addEventListener("change", () => {
      range.value = box.value;
      send(name, Number(box.value));
    });
    box.addEventListener("keydown", (event) => event.key === "Enter" && box.dispatchEvent(new Event("change")));
    return h("label", { class: "adiff-step-slider" }, h("span", { class: "adiff-step-name" }, name), range, box);
  }

  function drawInputs() {
    const specs = model.get("inputs") || [];
    title.textContent = word("inputs");
    inputs.hidden = specs.length === 0;
    const shape = JSON.stringify(specs.map(({ name, min, max, step }) => [name, min, max, step]));
    if (sliders.dataset.shape !== shape) { // new names or ranges: built anew
      sliders.dataset.shape = shape;
      sliders.replaceChildren(...specs.map(slider));
      return;
    }
    for (const { name, value } of specs) { // the same sliders: their values only, never under the pointer
      for (const input of sliders.querySelectorAll(`input[data-name="${CSS.escape(name)}"]`)) {
        const busy = input === document.activeElement && (input.type === "number" || dragging.has(name));
        if (!busy && Number(input.value) !== value) input.value = value;
      }
    }
  }

  function drawError() {
    error.textContent = model.get("error") || "";
    error.hidden = !error.textContent;
  }

  function drawNotes() {
    notes.replaceChildren(...(model.get("notes") || []).map((note) => h("p", {}, note)));
    notes.hidden = notes.childElementCount === 0;
  }

  const drawTheme = () => root.classList.toggle("adiff-step-dark", hostIsDark());

  // ---------------------------------------------------------------- wiring
  const handlers = {
    "change:svg": drawSvg, "change:highlight": drawHighlight, "change:grads": drawGrads,
    "change:lines": drawLines, "change:quiz": drawLines, "change:paths": drawPaths, "change:elements": drawPaths, "change:inputs": drawInputs,
    "change:error": drawError, "change:notes": drawNotes, "change:step": drawToolbar, "change:total": drawToolbar,
    "change:words": () => { drawToolbar(); drawLegend(); drawPaths(); drawInputs(); follows.textContent = word("follows"); },
  };
  for (const [event, handler] of Object.entries(handlers)) model.on(event, handler);
  const theme = new MutationObserver(drawTheme);
  theme.observe(document.body, { attributes: true, attributeFilter: ["class", "data-jp-theme-light"] });
  const scheme = matchMedia("(prefers-color-scheme: dark)");
  scheme.addEventListener("change", drawTheme);

  follows.textContent = word("follows");
  follows.hidden = true;
  for (const draw of [drawTheme, drawToolbar, drawLegend, drawSvg, drawLines, drawInputs, drawError, drawNotes]) draw();
  resized.observe(root);
  addEventListener("resize", settle);

  return () => {
    stop();
    cancelAnimationFrame(frame);
    cancelAnimationFrame(settling);
    resized.disconnect();
    removeEventListener("resize", settle);
    theme.disconnect();
    scheme.removeEventListener("change", drawTheme);
    for (const [event, handler] of Object.entries(handlers)) model.off(event, handler);
  };
}

export default { render };
