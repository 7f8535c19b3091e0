"""Pieces every tab shares: error handling, model-card display, the 'not available' notice.

Tabs only lay out components and call ``core``; everything here is Gradio glue.
"""

from __future__ import annotations

import functools
import logging
import time
from typing import Callable

import gradio as gr

from core import checkpoints

log = logging.getLogger("demos")


def user_error(exc: BaseException) -> gr.Error:
    """Turn an exception from ``core`` into a message for the page (never a traceback)."""
    if isinstance(exc, checkpoints.CheckpointNotFound):
        return gr.Error(f"Model not available: {exc}", duration=None)
    if isinstance(exc, ValueError):
        return gr.Error(str(exc))
    log.exception("unexpected error in a tab")
    return gr.Error(f"Something went wrong ({type(exc).__name__}: {exc}). The rest of the app still works.")


def guarded(fn: Callable) -> Callable:
    """Wrap an event handler so bad input shows a clear message instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # every failure becomes a readable toast
            raise user_error(exc) from exc

    return wrapper


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """Call ``fn`` and return (result, milliseconds) for the latency shown in tabs."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000.0


def model_card_accordion(model: str) -> gr.Markdown:
    """A closed accordion with the bundled model's card (data, command, measured scores)."""
    with gr.Accordion("Model card: what this model is, what it was trained on, how it scores", open=False):
        return gr.Markdown(checkpoints.model_card(model))


def model_selector(model: str, label: str = "Model") -> gr.Dropdown:
    """Bundled model first, then the public Hub checkpoints when the Hub may be used."""
    choices = checkpoints.sources(model)
    return gr.Dropdown(
        choices=choices or [checkpoints.BUNDLED],
        value=(choices or [checkpoints.BUNDLED])[0],
        label=label,
        info="'bundled' is trained by this repo; Hub ids download the public checkpoint (needs network).",
    )


def tab_error(title: str, exc: BaseException) -> str:
    """Markdown shown inside a tab whose build failed, while the other tabs keep working."""
    hint = (
        "Train or point to a checkpoint as described above."
        if isinstance(exc, checkpoints.CheckpointNotFound)
        else "Reinstall with `make run` (it installs the pinned dependencies) and check the server log."
    )
    return (
        f"### This tab could not be loaded\n\n"
        f"**{title}** failed while building: `{type(exc).__name__}: {exc}`\n\n"
        f"How to fix it: {hint} The other tabs are not affected."
    )
