"""How the app shares a small CPU machine among many visitors at once.

Each request runs torch on one thread. Gradio already runs several requests at once (one worker
thread each); torch's default of one thread per core inside every one of them puts many spinning
threads on each core, and a busy Space then slows down instead of serving more people. Heavier
defaults that do not change the answer are trimmed (the VAE's ``VAE_REPEATS`` here, its default K in
``demos/vae.py``), and charts are SVG drawn by the browser, not images rendered on the server.

``python benchmarks/load.py --baseline`` measures this against the app as it was before (a git
revision) side by side.
"""

from __future__ import annotations

# Events of one kind run at most this many at a time; the rest wait in the queue, where the page
# shows each visitor their place and the expected wait.
CONCURRENCY_PER_EVENT = 2
# Independent K-sample estimates per VAE score: the mean is the answer and their spread says how far
# one estimate can be trusted; three show that spread at 3/5 of the cost of five.
VAE_REPEATS = 3


def configure_torch() -> None:
    """One intra-op thread per request (see the module docstring)."""
    import torch

    torch.set_num_threads(1)
