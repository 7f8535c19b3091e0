"""A newcomer's first visit, on a fresh clone: `make run` until the page answers, then each tab's first answer.

    python benchmarks/first_visit.py [--revision HEAD] [--baseline REV]

Clones this repository (the given revision) into a temporary folder and, as the README says, runs ``make run``
there: the time until the page answers over HTTP is the install plus the first start. Then one call of each tab's
main action through ``gradio_client`` (models load lazily, so each first answer includes loading its model). Then
it stops the app and runs ``make run`` again in the same clone, everything installed: the time until the page
answers is the first page's time, and the difference to the first run is the install's. ``--baseline REV`` measures
another revision the same way right after (e.g. the app before a change) and adds the ratios. Prints one JSON line.
pip's download cache is whatever this machine has (a first install ever also downloads about 1 GB of wheels); the
load average at the start and the end is in the line, since other work on the machine slows every number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 600

# One main action per tab, as a visitor's first click would send it (other inputs: the controls' defaults).
FIRST_ANSWERS = {
    "paraphrase": ("/roformer_sim_paraphrase", ("我喜欢北京", 20, 10, 0.8, 0, "")),  # the tab's defaults; no mask
    "math": ("/math_solver_solve", ("学校把135本练习本平均分给3个班，每班多少本？",)),
    "xiangqi": ("/xiangqi_play", ("h2e2",)),
    "segmentation": ("/perturbed_masking_analyse", ("大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌",)),
    "vae": ("/vae_score_image", ("digit",)),  # "digit": one of the tab's example pictures
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clone(revision: str, into: Path) -> Path:
    sha = subprocess.run(["git", "rev-parse", revision], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(REPO), str(into)], check=True)
    subprocess.run(["git", "checkout", "--quiet", sha], cwd=into, check=True)
    return into


def wait_for_page(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.time() + START_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"make run exited early:\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"no page after {START_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)


def serve(clone_dir: Path, log: Path) -> tuple[subprocess.Popen, str, float]:
    """Start `make run` in the clone; return the process, the page's URL and the seconds until it answered."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    env = dict(os.environ, HF_HUB_OFFLINE="1", GRADIO_SERVER_PORT=str(port))
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(["make", "run"], cwd=clone_dir, stdout=out, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        wait_for_page(url, proc, log)
    except Exception:
        stop(proc)
        raise
    return proc, url, time.perf_counter() - start


def stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, 15)  # make and the app it started
    proc.wait(timeout=30)


def first_answers(url: str, clone_dir: Path) -> dict:
    client = Client(url, verbose=False, download_files=False)
    digit = handle_file(str(sorted((clone_dir / "assets" / "vae" / "examples").glob("*.png"))[0]))
    result = {}
    for tab, (endpoint, inputs) in FIRST_ANSWERS.items():
        start = time.perf_counter()
        try:
            client.predict(*[digit if value == "digit" else value for value in inputs], api_name=endpoint)
            result[tab] = round(time.perf_counter() - start, 2)
        except Exception as exc:  # a tab that cannot answer is a result too
            result[tab] = f"no answer: {str(exc)[:120]}"
    return result


def measure(revision: str) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="first_visit_"))
    try:
        clone_dir = clone(revision, folder / "clone")
        proc, url, cold = serve(clone_dir, folder / "cold.log")
        try:
            config = urllib.request.urlopen(url + "config", timeout=30).read().decode()
            answers = first_answers(url, clone_dir)
        finally:
            stop(proc)
        proc, _, warm = serve(clone_dir, folder / "warm.log")
        stop(proc)
        return {"revision": revision, "make_run_to_page_s": round(cold, 1), "install_s": round(cold - warm, 1),
                "first_page_s": round(warm, 1), "tabs_failing_to_build": config.count("could not be loaded"),
                "first_answer_s": answers}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--revision", default="HEAD", help="what to clone (default: HEAD of this checkout)")
    p.add_argument("--baseline", help="a revision to measure the same way right after, e.g. the app before a change")
    args = p.parse_args()
    load_before = os.getloadavg()[0]
    result = {"shipped": measure(args.revision)}
    if args.baseline:
        result["baseline"] = measure(args.baseline)
        for key in ("make_run_to_page_s", "install_s", "first_page_s"):
            result[f"{key.removesuffix('_s')}_ratio"] = round(result["shipped"][key] / result["baseline"][key], 2)
    result["load_average_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    result["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
