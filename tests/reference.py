"""Plain helpers the tests share (a helper module, not a test module; the fixtures are in conftest.py).

* An independent oracle: plain numpy versions of the engine's functions, central differences (not
  engine.utils), and how the property tests compare gradients with them.
* The seed notebook's cells, verbatim.
* Readers of the rendered table, text and HTML, that give each cell whole (so '64' is not '640').
"""
import re
import unicodedata
from html.parser import HTMLParser

import numpy as np


def central_differences(f, *arrays, eps=1e-6):
    """Gradient of the scalar f(*arrays) with respect to every element of every array."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in arrays:
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            old = a[idx]
            a[idx] = old + eps
            high = float(f(*arrays))
            a[idx] = old - eps
            low = float(f(*arrays))
            a[idx] = old
            g[idx] = (high - low) / (2 * eps)
        grads.append(g)
    return grads


class NP:
    """The numpy interpretation (engine function names, plain numpy implementations)."""

    sin, cos, tan, tanh, exp, log, sqrt, square = np.sin, np.cos, np.tan, np.tanh, np.exp, np.log, np.sqrt, np.square
    matmul, reshape, broadcast_to, transpose = np.matmul, np.reshape, np.broadcast_to, np.transpose
    abs = staticmethod(np.abs)

    @staticmethod
    def relu(x):
        return np.maximum(x, 0.0)

    @staticmethod
    def sum_to(x, shape):
        assert np.shape(x) == (2, 3) and tuple(shape) == (1, 3)  # the one use, in test_properties
        return np.sum(x, axis=0, keepdims=True)

    @staticmethod
    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    @staticmethod
    def softmax(x, axis=-1):
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)

    @staticmethod
    def log_softmax(x, axis=-1):
        m = np.max(x, axis=axis, keepdims=True)
        return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))

    @staticmethod
    def sum(x, axis=None, keepdims=False):
        return np.sum(x, axis=axis, keepdims=keepdims)

    @staticmethod
    def mean(x, axis=None, keepdims=False):
        return np.mean(x, axis=axis, keepdims=keepdims)


EPS = 1e-6  # the central-difference step of the property tests
LIMIT = 1e3  # largest magnitude allowed for any intermediate value


def safe(values):
    """All values finite and moderate, so that central differences are accurate."""
    scale = 0.0
    for v in values:
        v = np.asarray(v)
        if not np.all(np.isfinite(v)):
            return None
        if v.size:
            scale = max(scale, float(np.max(np.abs(v))))
    return scale if scale <= LIMIT else None


def assert_grads_close(actual, expected, scale, what):
    for k, (a, e) in enumerate(zip(actual, expected)):
        assert np.shape(a) == np.shape(e), f"{what}: leaf {k} gradient shape {np.shape(a)} != {np.shape(e)}"
        tol = 1e-5 * np.abs(e) + 1e-6 * (1 + scale)
        bad = np.abs(a - e) > tol
        assert not np.any(bad), f"{what}: leaf {k}: engine {a!r} vs central differences {e!r}"


# ================================================================ the seed notebook

SEED_GRAD = "3.297442541400256"  # printed by the seed notebook, cells In [6], [13] and [15]

# The seed notebook's cells, verbatim; its class-definition cells are replaced by one import.
SEED_IMPORT = "import numpy as np\nfrom engine import Variable, Function, Square, Exp\n"
SEED_CELL_5 = """\
# y = (eˣ²)² 순전파 코드
A = Square()
B = Exp()
C = Square()

x = Variable(np.array(0.5))
a = A(x)
b = B(a)
y = C(b)
"""
SEED_CELL_6 = """\
# y의 x에 대한 미분 결과
y.grad = np.array(1.0)
b.grad = C.backward(y.grad)
a.grad = B.backward(b.grad)
x.grad = A.backward(a.grad)
print(x.grad)
"""
SEED_CELL_10 = """\
A = Square()
B = Exp()
C = Square()

x = Variable(np.array(0.5))
a = A(x)
b = B(a)
y = C(b)

# 계산 그래프르이 노드들을 거꾸로 거슬러 올라감
assert y.creator == C
assert y.creator.input == b
assert y.creator.input.creator == B
assert y.creator.input.creator.input == a
assert y.creator.input.creator.input.creator == A
assert y.creator.input.creator.input.creator.input == x
"""
SEED_CELL_11 = """\
y.grad = np.array(1.0)   # dy / dy라 무조건 1임

C = y.creator   # 1. 함수를 가져온다.
b = C.input   # 2. 함수의 입력을 가져온다.
b.grad = C.backward(y.grad)   # 3. 함수의 backward 메서드를 호출한다
"""
SEED_CELL_12 = """\
B = b.creator   # 1. 함수를 가져온다.
a = B.input   #2. 함수의 입력을 가져온다.
a.grad = B.backward(b.grad)   #3. 함수의 backward 메서드를 호출한다.
"""
SEED_CELL_13 = """\
b.grad = C.backward(y.grad)
a.grad = B.backward(b.grad)
x.grad = A.backward(a.grad)
print(x.grad)
"""
SEED_CELL_15 = """\
A = Square()
B = Exp()
C = Square()

x = Variable(np.array(0.5))
a = A(x)
b = B(a)
y = C(b)

# 역전파
y.grad = np.array(1.0)
y.backward()
print(x.grad)
"""


# ================================================================ the rendered table, cell by cell


def text_table(text):
    """The table of a text rendering, or of printed output holding one: {row name: {heading: cell}}.

    The heading line is the first line that starts with a space (the row names' column has no
    heading); the rows follow it up to the first blank line. A column starts where its heading
    starts (headings are two or more spaces apart) and ends where the next one starts, so every
    cell is read whole, and a cell that spills into the next column is an error. Columns are
    counted as a terminal shows them (a wide character takes two), and a line with no row name
    continues the row above (an array's grid): its cells are joined to that row's with newlines."""
    lines = [_by_columns(line) for line in text.splitlines()]
    top = next(i for i, line in enumerate(lines) if line.startswith(" ") and line.strip())
    headings = [(m.start(), m.group()) for m in re.finditer(r"\S+(?: \S+)*", lines[top])]
    ends = [start for start, _ in headings[1:]] + [None]
    table, name = {}, None
    for line in lines[top + 1:]:
        if not line.strip():
            break
        for start, _ in headings:
            assert len(line) <= start or line[start - 1] == " ", f"a cell runs into column {start}:\n{line}"
        cells = {_read(heading): _read(line[start:end]) for (start, heading), end in zip(headings, ends)}
        if line[:headings[0][0]].strip() or name is None:
            name = _read(line[:headings[0][0]])
            table[name] = cells
        else:
            table[name] = {h: "\n".join(c for c in (table[name][h], cells[h]) if c) for h in cells}
    return table


_WIDE = "\0"  # stands for the second column a wide character takes


def _by_columns(line):
    return "".join(c + _WIDE if unicodedata.east_asian_width(c) in "WF" else c for c in line)


def _read(cell):
    return cell.replace(_WIDE, "").strip()


class _TableReader(HTMLParser):
    """The text of every cell of the first <table class="adiff-table">, row by row."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows, self.row, self.cell, self.state = [], None, None, "before"

    def handle_starttag(self, tag, attrs):
        if tag == "table" and self.state == "before" and "adiff-table" in (dict(attrs).get("class") or "").split():
            self.state = "inside"
        elif self.state == "inside" and tag == "tr":
            self.row = []
        elif self.state == "inside" and tag in ("th", "td"):
            self.cell = []

    def handle_endtag(self, tag):
        if self.state != "inside":
            return
        if tag in ("th", "td"):
            self.row.append("".join(self.cell))
            self.cell = None
        elif tag == "tr":
            self.rows.append(self.row)
            self.row = None
        elif tag == "table":
            self.state = "after"

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def html_table(page):
    """The table of an HTML rendering: {row name: {heading: cell text}}, each cell whole."""
    reader = _TableReader()
    reader.feed(page)
    reader.close()
    assert reader.rows, f"no adiff-table in:\n{page}"
    header, *rows = reader.rows
    return {row[0]: dict(zip(header[1:], row[1:])) for row in rows}


# ================================================================ the seed notebook, whole


def seed_notebook_cells():
    """The seed notebook's 15 cells verbatim (tests/data/seed_notebook.txt, a copy of the seed), each
    with the output it printed: [(source, printed or '')], In [1] first."""
    import pathlib
    import re

    text = (pathlib.Path(__file__).parent / "data" / "seed_notebook.txt").read_text(encoding="utf-8")
    cells = []
    for chunk in re.split(r"^In \[\d+\]:\n", text, flags=re.M)[1:]:
        printed = re.search(r"\n\n(\d+\.\d+)\n*$", chunk)
        source = chunk[:printed.start()] + "\n" if printed else chunk
        cells.append((source, printed.group(1) if printed else ""))
    return cells


# ================================================================ shared cells

# the two-layer network of issue 17: x (1, 2), W1 (2, 3), b1 (3,), tanh, W2 (3, 1), mean squared error
MLP = """x = np.array([[0.5, -1.0]])
W1 = np.array([[0.1, 0.2, -0.3], [0.4, -0.5, 0.6]])
b1 = np.array([0.01, 0.02, 0.03])
h = tanh(matmul(x, W1) + b1)
W2 = np.array([[0.7], [-0.8], [0.9]])
y = matmul(h, W2)
t = np.array([[1.0]])
loss = mean((y - t) ** 2)
"""
