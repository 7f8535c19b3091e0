"""Busy use: concurrent gradio_client users against the app on loopback, one JSON line of results.

    python benchmarks/load.py [--users 20] [--seconds 180] [--think 2] [--baseline]

Starts ``python app.py`` on a free 127.0.0.1 port, warms every model with one call of each action,
then runs ``--users`` simulated users for ``--seconds``: each repeats "the main action of a
randomly chosen tab with a realistic input (a Chinese sentence to paraphrase, a math word problem,
a xiangqi move in the user's own game, a sentence to segment, a digit picture for the VAE score),
then ``--think`` seconds of think time". Prints per-endpoint p50/p95 latency, calls per second,
failures, and the server's resident memory before and after the load.

``--baseline`` also checks out the app as it was when the busy-use issue was filed (git revision
``BASELINE_REVISION``, or ``--baseline-revision REV``) into a temporary git worktree, starts it with
the same Python environment and runs the same load against it right after; the line then holds
both results and the throughput ratio. It needs the repository's git history (not a shallow clone).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.xiangqi.board import Board  # noqa: E402
from demos.math_solver import TYPED_EXAMPLES as MATH_PROBLEMS  # noqa: E402
from demos.perturbed_masking import EXAMPLES as SEGMENTATION_SENTENCES  # noqa: E402
from demos.roformer_sim import PARAPHRASE_EXAMPLES  # noqa: E402
from demos.vae import EXAMPLES_DIR as DIGIT_PICTURES  # noqa: E402

# The last commit before the busy-use issue was filed: torch's default threads in every request, matplotlib
# charts rendered on the server, 5 VAE repeats at K = 1,000.
BASELINE_REVISION = "b6508b7aee044385b7ea20c8bbe140f33bb832f3"
START_TIMEOUT_S = 600  # start-up takes seconds when idle, minutes on a machine shared with training runs
MAX_PLIES_PER_GAME = 40  # a user starts a new game after this many plies (or when the game ends)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of the server process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for pid {pid}")


@contextlib.contextmanager
def checkout(revision: str):
    """The repository at ``revision`` in a temporary git worktree, removed afterwards."""
    directory = Path(tempfile.mkdtemp(prefix="load-baseline-"))
    try:
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(directory), revision], cwd=REPO, check=True,
                       capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"--baseline needs git revision {revision} of this repository (a full clone): {exc.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(directory)], cwd=REPO, capture_output=True)


class Server:
    """``python app.py`` of the app in ``directory``, on a free loopback port, log in a temp file."""

    def __init__(self, name: str, directory: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log = tempfile.NamedTemporaryFile("w+", prefix=f"load-{name}-", suffix=".log", delete=False)
        env = dict(os.environ, GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(self.port),
                   GRADIO_ANALYTICS_ENABLED="False", HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1")
        self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=directory, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited early; log: {self.log.name}")
            try:
                urllib.request.urlopen(self.url, timeout=2)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the app did not start in {START_TIMEOUT_S} s; log: {self.log.name}")
                time.sleep(0.5)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class User:
    """One visitor with their own session (so their own xiangqi game) and random choices."""

    def __init__(self, url: str, seed: int):
        self.client = Client(url, verbose=False, download_files=False)
        self.rng = random.Random(seed)
        self.fen: str | None = None  # position of this user's xiangqi game; None: start a new one
        self.plies = 0

    def paraphrase(self):
        return "/roformer_sim_paraphrase", lambda: self.client.predict(
            self.rng.choice(PARAPHRASE_EXAMPLES), seed=self.rng.randrange(1000), mask_positions="",
            api_name="/roformer_sim_paraphrase")

    def solve(self):
        return "/math_solver_solve", lambda: self.client.predict(self.rng.choice(MATH_PROBLEMS), api_name="/math_solver_solve")

    def segment(self):
        sentence = self.rng.choice(SEGMENTATION_SENTENCES)
        return "/perturbed_masking_analyse", lambda: self.client.predict(sentence, api_name="/perturbed_masking_analyse")

    def score_digit(self):
        picture = self.rng.choice(sorted(DIGIT_PICTURES.glob("*.png")))
        return "/vae_score_image", lambda: self.client.predict(handle_file(str(picture)), api_name="/vae_score_image")

    def xiangqi_move(self):
        """A random legal move in the user's game (the model answers it); a fresh game when there is none."""
        if self.fen is None:
            return "/xiangqi_new_game", lambda: self.remember_position(self.client.predict(api_name="/xiangqi_new_game"))
        move = self.rng.choice(Board(self.fen).legal_moves)
        return "/xiangqi_play", lambda: self.remember_position(self.client.predict(move, api_name="/xiangqi_play"))

    def remember_position(self, view: tuple) -> tuple:
        """The FEN is the tab's last output; the status among the others says when the game is over."""
        fen = view[-1]
        self.plies += 2
        over = any("Game over" in str(part) for part in view[:-1]) or self.plies >= MAX_PLIES_PER_GAME
        self.fen, self.plies = (None, 0) if over else (fen, self.plies)
        return view

    ACTIONS = (paraphrase, solve, segment, score_digit, xiangqi_move)

    def random_action(self):
        return self.rng.choice(self.ACTIONS)(self)


def timed_call(call) -> tuple[float, str | None]:
    start = time.perf_counter()
    try:
        call()
        error = None
    except Exception as exc:  # a failed call is a measurement, not a crash of the benchmark
        error = f"{type(exc).__name__}: {exc}"[:300]
    return time.perf_counter() - start, error


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_load(name: str, directory: Path, users: int, seconds: float, think: float, seed: int) -> dict:
    server = Server(name, directory)
    try:
        server.wait_ready()
        crowd = [User(server.url, seed * 1000 + i) for i in range(users)]
        for action in User.ACTIONS:  # load every model once, so lazy loading is not measured as latency
            _, error = timed_call(action(crowd[0])[1])
            if error:
                raise RuntimeError(f"warm-up of {action.__name__} failed: {error}; log: {server.log.name}")
        rss_before = rss_mb(server.proc.pid)
        records: list[tuple[str, float, str | None]] = []
        lock = threading.Lock()
        deadline = time.monotonic() + seconds

        def visit(user: User) -> None:
            time.sleep(user.rng.uniform(0, think))  # users do not all arrive in the same instant
            while time.monotonic() < deadline:
                endpoint, call = user.random_action()
                latency, error = timed_call(call)
                if error and endpoint in ("/xiangqi_play", "/xiangqi_new_game"):
                    user.fen = None  # whatever went wrong, this user's next xiangqi action starts a new game
                with lock:
                    records.append((endpoint, latency, error))
                time.sleep(think)

        start = time.monotonic()
        threads = [threading.Thread(target=visit, args=(user,)) for user in crowd]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - start
        rss_after = rss_mb(server.proc.pid)
    finally:
        server.stop()

    endpoints = defaultdict(list)
    for endpoint, latency, error in records:
        endpoints[endpoint].append((latency, error))
    errors = [error for _, _, error in records if error]
    return {
        "app": name,
        "calls": len(records),
        "failures": len(errors),
        "throughput_per_s": round(len(records) / elapsed, 3),
        "elapsed_s": round(elapsed, 1),
        "endpoints": {
            endpoint: {
                "calls": len(rows),
                "failures": sum(1 for _, error in rows if error),
                "p50_s": round(statistics.median(latency for latency, _ in rows), 2),
                "p95_s": round(percentile([latency for latency, _ in rows], 0.95), 2),
            }
            for endpoint, rows in sorted(endpoints.items())
        },
        "rss_mb": {"before": rss_before, "after": rss_after},
        "first_errors": errors[:3],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the load (default 3 minutes)")
    parser.add_argument("--think", type=float, default=2.0, help="think time between a user's calls, in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--baseline", action="store_true",
                        help="also run the same load against the app at --baseline-revision (before the busy-use work)")
    parser.add_argument("--baseline-revision", default=BASELINE_REVISION)
    args = parser.parse_args()
    settings = {"users": args.users, "seconds": args.seconds, "think_s": args.think, "cpus": os.cpu_count()}
    shipped = run_load("shipped", REPO, args.users, args.seconds, args.think, args.seed)
    if not args.baseline:
        print(json.dumps({**settings, **shipped}, ensure_ascii=False))
        return
    with checkout(args.baseline_revision) as directory:
        baseline = run_load(f"baseline {args.baseline_revision[:7]}", directory, args.users, args.seconds, args.think,
                            args.seed)
    ratio = shipped["throughput_per_s"] / baseline["throughput_per_s"]
    print(json.dumps({**settings, "throughput_ratio": round(ratio, 2), "shipped": shipped, "baseline": baseline},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
