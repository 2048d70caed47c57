"""Training progress: a bar on a terminal, whole lines in a log file or a pipe."""

import io
import subprocess
import sys

from condgan.progress import ProgressLines, training_progress


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lines_at_the_first_step_then_every_interval_then_the_last():
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(100, stream=stream, every_seconds=30, clock=clock)
    for _ in range(100):
        clock.now += 1.0  # one step a second
        lines.update(1)
        if lines.step == 50:
            lines.set_postfix({"d_loss": "1.234", "g_loss": "0.987"})
    lines.close()
    written = stream.getvalue().splitlines()
    assert [line.split(",")[0] for line in written] == [
        "condgan: step 1/100 (1%)", "condgan: step 31/100 (31%)", "condgan: step 61/100 (61%)",
        "condgan: step 91/100 (91%)", "condgan: step 100/100 (100%)",
    ]  # fmt: skip
    assert written[1] == "condgan: step 31/100 (31%), 1.0 steps/s, 31 s, ~1 min 9 s left"
    assert written[-1] == "condgan: step 100/100 (100%), 1.0 steps/s, d_loss 1.234, g_loss 0.987, 1 min 40 s"
    assert "\r" not in stream.getvalue()


def test_a_time_budget_run_and_a_resumed_run():
    stream, clock = io.StringIO(), Clock()
    lines = ProgressLines(None, initial=500, budget="budget 330 s", stream=stream, every_seconds=30, clock=clock)
    clock.now = 2.0
    lines.update(1)
    lines.close()  # nothing since the last line: no second line
    assert stream.getvalue() == "condgan: step 501, 0.5 steps/s, 2 s, budget 330 s\n"


def test_a_terminal_gets_a_bar_a_pipe_gets_lines_and_disabled_gets_nothing():
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    from tqdm import tqdm

    terminal = Terminal()
    bar = training_progress(10, 0, 0.0, stream=terminal)
    assert isinstance(bar, tqdm)
    bar.update(1)
    bar.close()
    assert "\r" in terminal.getvalue()  # a bar redraws its line
    assert isinstance(training_progress(10, 0, 0.0, stream=io.StringIO()), ProgressLines)
    assert training_progress(10, 0, 0.0, enabled=False) is None


def test_training_into_a_pipe_writes_whole_lines(tmp_path):
    args = ["train", "--data", "digits", "--model", "mlp", "--conditioning", "concat", "--steps", "4",
            "--out", str(tmp_path / "run"), "--set", "train.log_every=2", "--set", "train.sample_every=0"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "condgan", *args], stderr=subprocess.PIPE, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("condgan: step 1/4 (25%), ")
    assert lines[1].startswith("condgan: step 4/4 (100%), ") and "d_loss" in lines[1] and "g_loss" in lines[1]
    assert lines[2].startswith("condgan: trained 4 steps") and len(lines) == 3
