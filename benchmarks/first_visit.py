"""A newcomer's first visit, on a fresh clone: install time, time to the first page, time to each tab's first answer.

    python benchmarks/first_visit.py [--revision HEAD] [--keep]

Clones this repository (the given revision) into a temporary folder, then, as the README says:
``make .venv-app/.installed`` (the install step of ``make run``: a new venv with requirements.txt alone), then
``make run`` until the page answers over HTTP, then one call of each tab's main action through ``gradio_client``
(models load lazily, so each first answer includes loading its model). Prints one JSON line. pip's download cache
is whatever this machine has (a first install ever also downloads about 1 GB of wheels). The load average at the
start and the end is in the line: other work on the machine slows every number.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gradio_client import Client, handle_file

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 600

# One main action per tab, as a visitor's first click would send it (other inputs: the controls' defaults).
FIRST_ANSWERS = {
    "paraphrase": ("/roformer_sim_paraphrase", ("我喜欢北京",)),
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--revision", default="HEAD", help="what to clone (default: HEAD of this checkout)")
    p.add_argument("--keep", action="store_true", help="keep the clone (its path is in the JSON line)")
    args = p.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="first_visit_"))
    load_before = os.getloadavg()[0]
    result: dict = {"revision": args.revision}
    proc = None
    try:
        clone_dir = clone(args.revision, folder / "clone")
        env = dict(os.environ, HF_HUB_OFFLINE="1")
        env.pop("APP_PYTHON", None)
        start = time.perf_counter()
        subprocess.run(["make", ".venv-app/.installed"], cwd=clone_dir, env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        result["install_s"] = round(time.perf_counter() - start, 1)

        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        log = folder / "app.log"
        start = time.perf_counter()
        with open(log, "w") as out:
            proc = subprocess.Popen(["make", "run"], cwd=clone_dir, stdout=out, stderr=subprocess.STDOUT,
                                    env=dict(env, GRADIO_SERVER_PORT=str(port)), start_new_session=True)
        wait_for_page(url, proc, log)
        result["first_page_s"] = round(time.perf_counter() - start, 1)
        if "could not be loaded" in urllib.request.urlopen(url + "config", timeout=30).read().decode():
            result["tab_build_errors"] = True

        client = Client(url, verbose=False, download_files=False)
        digit = handle_file(str(sorted((clone_dir / "assets" / "vae" / "examples").glob("*.png"))[0]))
        for tab, (endpoint, inputs) in FIRST_ANSWERS.items():
            start = time.perf_counter()
            try:
                client.predict(*[digit if value == "digit" else value for value in inputs], api_name=endpoint)
                result[f"first_answer_{tab}_s"] = round(time.perf_counter() - start, 2)
            except Exception as exc:  # a tab that cannot answer is a result too
                result[f"first_answer_{tab}_s"] = None
                result[f"first_answer_{tab}_error"] = str(exc)[:200]
    finally:
        if proc is not None:
            os.killpg(proc.pid, 15)  # make and the app it started
            proc.wait(timeout=30)
        result["load_average_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
        result["cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        if args.keep:
            result["clone"] = str(folder / "clone")
        else:
            shutil.rmtree(folder, ignore_errors=True)
        print(json.dumps(result, ensure_ascii=False))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
