"""How the app shares a small CPU machine among many visitors at once.

Shipped set-up: each request runs torch on one thread. Gradio already runs several requests at
once (one worker thread each); torch's default of one thread per core inside every one of them
puts many spinning threads on each core, and a busy Space then slows down instead of serving
more people. Heavier defaults that do not change the answer are trimmed (see ``VAE_REPEATS``).

``DEMO_SERVING=baseline`` restores the set-up this replaced (torch's default thread count in
every request, 5 VAE repeats) so ``benchmarks/load.py --baseline`` can measure both side by side
in one run.
"""

from __future__ import annotations

import os

MODES = ("shipped", "baseline")
MODE = os.environ.get("DEMO_SERVING", "shipped")
if MODE not in MODES:
    raise ValueError(f"DEMO_SERVING must be one of {MODES}, got {MODE!r}")
BASELINE = MODE == "baseline"

# Events of one kind run at most this many at a time; the rest wait in the queue, where the page
# shows each visitor their place and the expected wait.
CONCURRENCY_PER_EVENT = 2
# Independent K-sample estimates per VAE score: the mean is the answer and their spread says how far
# one estimate can be trusted; three show that spread at 3/5 of the cost of five.
VAE_REPEATS = 5 if BASELINE else 3


def configure_torch() -> None:
    """One intra-op thread per request (shipped); torch's default, one per core, in the baseline."""
    if not BASELINE:
        import torch

        torch.set_num_threads(1)
