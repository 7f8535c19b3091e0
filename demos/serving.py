"""How the app shares a small CPU machine among many visitors at once.

Each request runs torch on one thread, and at most one request per CPU core runs model code at a
time (``model_slot``); the others wait in Gradio's queue, where each visitor sees their place. With
torch's default of one thread per core inside every concurrent request, many spinning threads shared
each core; and a dozen Python threads stepping through small torch operations hand the GIL to each
other thousands of times per request. Either way a busy Space slowed down instead of serving more
people. Heavier
defaults that do not change the answer are trimmed (the VAE's ``VAE_REPEATS`` here, its default K in
``demos/vae.py``), and charts are SVG drawn by the browser, not images rendered on the server.

``python benchmarks/load.py --baseline`` measures this against the app as it was before (a git
revision) side by side.
"""

from __future__ import annotations

import contextlib
import os
import threading

# Events of one kind run at most this many at a time; the rest wait in the queue, where the page
# shows each visitor their place and the expected wait.
CONCURRENCY_PER_EVENT = 2
# Independent K-sample estimates per VAE score: the mean is the answer and their spread says how far
# one estimate can be trusted; three show that spread at 3/5 of the cost of five.
VAE_REPEATS = 3


# Model calls running at once: one per core this process may use.
MODEL_SLOTS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
_slots = threading.BoundedSemaphore(MODEL_SLOTS)
_holding = threading.local()


@contextlib.contextmanager
def model_slot():
    """Hold one of the ``MODEL_SLOTS`` while the block runs (waiting for one if all are taken). Re-entrant: a
    handler that calls another wrapped handler does not wait for itself."""
    depth = getattr(_holding, "depth", 0)
    if depth == 0:
        _slots.acquire()
    _holding.depth = depth + 1
    try:
        yield
    finally:
        _holding.depth = depth
        if depth == 0:
            _slots.release()


def configure_torch() -> None:
    """One intra-op thread per request (see the module docstring)."""
    import torch

    torch.set_num_threads(1)
