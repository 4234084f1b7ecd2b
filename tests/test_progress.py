"""adiff_magic.progress: the progress line of long passes (in a shell, which collects the displays)."""
import re

from IPython.utils.capture import capture_output

from adiff_magic.progress import ProgressLine


def shown(outputs):
    return [o.data["text/plain"] for o in outputs]


def test_nothing_is_shown_before_the_delay(ip):
    line = ProgressLine(delay=60.0)
    with capture_output() as captured:
        for done in range(1, 11):
            line("--check: central differences", done, 10)
    assert captured.outputs == []


def test_after_the_delay_one_line_is_updated_in_place_and_the_last_step_always_shows(ip):
    line = ProgressLine(delay=0.0, interval=60.0)
    with capture_output() as captured:
        for done in range(1, 11):
            line("--check: central differences", done, 10)
    texts = shown(captured.outputs)
    # the first call shows, the next ones fall inside the interval, the last one always shows
    assert len(texts) == 2
    assert re.fullmatch(r"--check: central differences: 1 of 10 \(\d+\.\d s\)", texts[0])
    assert re.fullmatch(r"--check: central differences: 10 of 10 \(\d+\.\d s\)", texts[1])
    assert line.handle is not None  # one display, updated in place


def test_a_slow_graph_picture_says_what_it_is_doing(ip, monkeypatch):
    # issue 15: the first --graph in a fresh kernel took 24.5 s with no word shown; the picture is drawn
    # after the cell's passes, so its stages report to the same progress line
    import time

    from adiff_magic import graph, magic

    slow_scene = graph._scene

    def slow(*args, **kwargs):
        time.sleep(1.05)  # a layout past the line's one-second delay
        return slow_scene(*args, **kwargs)

    monkeypatch.setattr(graph, "_scene", slow)
    monkeypatch.setattr(magic, "ProgressLine", lambda: ProgressLine(delay=1.0, interval=0.0))
    with capture_output() as captured:
        ip.run_cell_magic("grad", "--graph", "x = 0.5\ny = sin(x)\n")
    texts = [t for t in shown(captured.outputs) if t.startswith("--graph")]
    assert texts and re.fullmatch(r"--graph: laying out and drawing the picture: 3 of 3 \(\d+\.\d s\)", texts[-1])
