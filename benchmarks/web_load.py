"""Many users at once against `condgan serve`: every endpoint, identical and different requests, from
concurrent gradio_client clients on 127.0.0.1.

    python benchmarks/web_load.py                      # 16 clients x 12 requests, the shipped models
    python benchmarks/web_load.py --minutes 10         # the soak: the same load for 10 minutes, RSS sampled
    MALLOC_MMAP_THRESHOLD_=262144 python benchmarks/web_load.py --rounds 2 --name web_load_mmap256k  # another heap

Each response is checked whole: every returned image file is fetched and decoded to its last byte
and the status line must not be an error. The server's log is scanned for errors (tracebacks, h11
Content-Length errors). Writes benchmarks/results/web_load.json (web_soak.json with --minutes; --name NAME: NAME.json):
p50/p95 latency per endpoint, failures, and for the soak the server's resident memory over time.
The suite runs the same code (tests/test_web.py::test_many_users_at_once) with the tiny test models.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WARMUP_S = 120.0  # the soak's memory trend is fitted after this (imports, allocator pools and caches fill first)
LOG_PROBLEMS = re.compile(r"Traceback|ERROR|Exception in ASGI|Content-Length|Internal error")


@dataclass
class Request:
    """One call: the endpoint, its arguments, and a check of the outputs (raises AssertionError if wrong)."""

    api_name: str
    args: tuple
    check: Callable[[tuple], None] | None = None


@dataclass
class Outcome:
    api_name: str
    seconds: float
    error: str = ""


@dataclass
class Load:
    outcomes: list[Outcome] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes.append(outcome)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(runs: list[str], port: int, log: Path, env: dict | None = None, prefix: list[str] | None = None):
    """`condgan serve RUNS --port PORT` in a subprocess, stdout and stderr into `log`."""
    command = [*(prefix or [sys.executable, "-m", "condgan"]), "serve", *runs, "--port", str(port)]
    with open(log, "w") as out:
        return subprocess.Popen(command, env={**os.environ, **(env or {})}, stdout=out, stderr=subprocess.STDOUT)


def wait_until_up(url: str, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"condgan serve exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"no page at {url} after {timeout} s")


def decoded(path: str):
    """The returned file read whole and decoded (a short or damaged file raises)."""
    from PIL import Image

    data = Path(path).read_bytes()
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def checked_call(client, request: Request) -> Outcome:
    started = time.perf_counter()
    try:
        result = client.predict(*request.args, api_name=f"/{request.api_name}")
        result = result if isinstance(result, tuple) else (result,)
        if str(result[-1]).startswith(("**Error", "**Internal")):
            raise AssertionError(f"the page's status line says {result[-1]!r}")
        for item in result[:-1]:
            if item is None:
                raise AssertionError("an image output is empty")
            decoded(item)
        if request.check is not None:
            request.check(result)
    except Exception as exc:  # every failure is counted and reported, none stops the others
        return Outcome(request.api_name, time.perf_counter() - started, f"{type(exc).__name__}: {exc}"[:300])
    return Outcome(request.api_name, time.perf_counter() - started)


def run_load(url: str, requests: list[Request], clients: int, rounds: int = 1, seconds: float = 0.0,
             on_tick: Callable[[float], None] | None = None) -> Load:  # fmt: skip
    """`clients` threads, each with its own gradio_client Client, send every request in `requests` (each
    client starts at a different place in the list) `rounds` times, or for `seconds` when that is > 0."""
    from gradio_client import Client

    load = Load()
    start_gate = threading.Barrier(clients)
    deadline = time.monotonic() + seconds if seconds > 0 else None

    def client_thread(index: int) -> None:
        client = Client(url, verbose=False)
        order = requests[index % len(requests) :] + requests[: index % len(requests)]
        start_gate.wait()
        count = 0
        while True:
            for request in order:
                if deadline is not None and time.monotonic() > deadline:
                    return
                load.add(checked_call(client, request))
            count += 1
            if deadline is None and count >= rounds:
                return

    threads = [threading.Thread(target=client_thread, args=(i,), daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.5)
        if on_tick is not None:
            on_tick(time.monotonic())
    return load


def summary(load: Load) -> dict:
    """Per endpoint: requests, failures, p50/p95/max seconds; and all failures' messages (first 10)."""
    table = {}
    for name in sorted({o.api_name for o in load.outcomes}):
        times = sorted(o.seconds for o in load.outcomes if o.api_name == name)
        failed = [o for o in load.outcomes if o.api_name == name and o.error]
        table[name] = {
            "requests": len(times),
            "failed": len(failed),
            "p50_s": round(statistics.median(times), 4),
            "p95_s": round(times[min(len(times) - 1, int(0.95 * len(times)))], 4),
            "max_s": round(times[-1], 4),
        }
    errors = [f"{o.api_name}: {o.error}" for o in load.outcomes if o.error]
    return {"endpoints": table, "requests": len(load.outcomes), "failed": len(errors), "errors": errors[:10]}


def memory_trend(samples: list[dict], warmup_s: float) -> dict:
    """RSS samples, and after the warm-up: first, last, max and the least-squares slope (MB per minute)."""
    import numpy as np

    after = [m for m in samples if m["t_s"] >= warmup_s] or samples
    t, rss = np.array([m["t_s"] for m in after]) / 60, np.array([m["rss_mb"] for m in after])
    slope = float(np.polyfit(t, rss, 1)[0]) if len(after) > 2 else float("nan")
    return {"samples": samples, "warmup_s": warmup_s, "rss_after_warmup_mb": float(rss[0]),
            "rss_end_mb": float(rss[-1]), "rss_max_mb": float(rss.max()),
            "slope_after_warmup_mb_per_min": round(slope, 2)}  # fmt: skip


def plot_memory(names: list[str], out: Path) -> Path:
    """The server's resident memory over the soak, one line per soak JSON in benchmarks/results (its label:
    the JSON's server_heap, or its name), the warm-up shaded; written to `out` (PNG)."""
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    warmup = WARMUP_S
    for name in names:
        data = json.loads((ROOT / "benchmarks" / "results" / f"{name}.json").read_text())
        memory = data["memory"]
        warmup = memory["warmup_s"]
        t = [m["t_s"] / 60 for m in memory["samples"]]
        rss = [m["rss_mb"] for m in memory["samples"]]
        label = f"{data.get('server_heap', name)}: {memory['slope_after_warmup_mb_per_min']:+.1f} MB/min"
        ax.plot(t, rss, label=label, linewidth=1.4)
    ax.axvspan(0, warmup / 60, color="0.9", label="warm-up (not fitted)")
    ax.set_xlabel("minutes of load (16 clients)")
    ax.set_ylabel("server RSS (MB)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.tight_layout()
    fig.savefig(out, metadata={"Software": None})
    plt.close(fig)
    return out


def log_problems(text: str) -> list[str]:
    return [line for line in text.splitlines() if LOG_PROBLEMS.search(line)]


def heap_setting() -> str:
    """How the server's allocator is set (condgan serve calls runtime.steady_heap, unless the user's env says)."""
    from condgan.runtime import _MMAP_ENV, MMAP_THRESHOLD

    if os.environ.get(_MMAP_ENV):
        return f"{_MMAP_ENV}={os.environ[_MMAP_ENV]} from the environment"
    return f"glibc mmap threshold fixed at {MMAP_THRESHOLD} bytes (runtime.steady_heap)"


def heap_env() -> str:
    """The user's mmap threshold as a command prefix ("" when condgan serve picks it)."""
    from condgan.runtime import _MMAP_ENV

    return f"{_MMAP_ENV}={os.environ[_MMAP_ENV]} " if os.environ.get(_MMAP_ENV) else ""


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (MB), from /proc."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


# ----------------------------------------------------------------------------- the shipped models' requests


def shipped_requests(tmp: Path) -> tuple[list[str], list[Request]]:
    """The runs to serve and a request list over every endpoint: the page's defaults (identical in every
    client), other classes and seeds (different), each example sketch, and an uploaded PNG."""
    from gradio_client import handle_file

    from condgan.inference.runs import PREFIX, names
    from condgan.web.drawing import EXAMPLES, render_example
    from condgan.web.views import DATA_URL_PREFIX

    generator = f"{PREFIX}fashion-mnist"
    translators = [PREFIX + n for n in names(task="pix2pix")]
    requests = [
        Request("generate", (generator, "t-shirt", 16, 0, 0)),  # the page's defaults
        Request("generate", (generator, "sneaker", 64, 3, 0.5)),
        Request("interpolate", (generator, "seeds", "dress", "bag", 0, 1, 8, 0)),
        Request("interpolate", (generator, "classes", "sneaker", "ankle-boot", 2, 1, 12, 0)),
        Request("explore", (generator, 0, 0)),
    ]
    for name in EXAMPLES:
        buffer = io.BytesIO()
        render_example(name).save(buffer, format="PNG")
        url = DATA_URL_PREFIX + __import__("base64").b64encode(buffer.getvalue()).decode()
        requests.append(Request("translate_drawing", (translators[0], url)))
        (tmp / f"{name}.png").write_bytes(buffer.getvalue())
    requests.append(Request("translate", (translators[-1], handle_file(str(tmp / "T-shirt.png")))))
    return [generator, *translators], requests


def main() -> None:
    from condgan.threads import use_condgan_threads

    use_condgan_threads()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import torch
    from bench_common import machine, write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=1, help="passes over the request list per client")
    parser.add_argument("--minutes", type=float, default=0.0, help="soak: send for this long instead (RSS sampled)")
    parser.add_argument("--sample-every", type=float, default=15.0, help="soak: seconds between RSS samples")
    parser.add_argument("--name", help="results file stem (default web_load, or web_soak with --minutes)")
    parser.add_argument("--plot", nargs="+", metavar="NAME", help="only draw these soak JSONs' memory "
                        "into benchmarks/results/web_soak.png, e.g. --plot web_soak_before web_soak")  # fmt: skip
    args = parser.parse_args()
    if args.plot:
        print(plot_memory(args.plot, ROOT / "benchmarks" / "results" / "web_soak.png"))
        return

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        runs, requests = shipped_requests(tmp)
        port, log = free_port(), tmp / "server.log"
        env = {"GRADIO_TEMP_DIR": str(tmp / "gradio")}
        process = start_server(runs, port, log, env)
        url = f"http://127.0.0.1:{port}/"
        memory: list[dict] = []
        started = time.monotonic()
        last = [0.0]

        def sample(now: float) -> None:
            if now - last[0] >= args.sample_every:
                last[0] = now
                memory.append({"t_s": round(now - started, 1), "rss_mb": round(rss_mb(process.pid), 1)})
                print(f"  {memory[-1]['t_s']:7.1f} s  server RSS {memory[-1]['rss_mb']:.1f} MB", file=sys.stderr)

        try:
            wait_until_up(url, process)
            sample(time.monotonic())
            load = run_load(url, requests, args.clients, rounds=args.rounds, seconds=args.minutes * 60,
                            on_tick=sample if args.minutes else None)  # fmt: skip
            memory.append({"t_s": round(time.monotonic() - started, 1), "rss_mb": round(rss_mb(process.pid), 1)})
        finally:
            process.terminate()
            process.wait(timeout=30)
        result = {
            "benchmark": "web_load",
            "command": heap_env() + "python benchmarks/web_load.py " + " ".join(sys.argv[1:]),
            "models": runs,
            "clients": args.clients,
            "minutes": args.minutes,
            **machine(torch.device("cpu"), torch.get_num_threads()),
            **summary(load),
            "server_log_problems": log_problems(log.read_text())[:20],
            "server_heap": heap_setting(),
        }
        if args.minutes:
            result["memory"] = memory_trend(memory, warmup_s=WARMUP_S)
    out = write_result(args.name or ("web_soak" if args.minutes else "web_load"), result)
    print(f"{result['requests']} requests, {result['failed']} failed, {len(result['server_log_problems'])} "
          f"problems in the server's log -> {out}")  # fmt: skip


if __name__ == "__main__":
    main()
