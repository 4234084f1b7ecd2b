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
