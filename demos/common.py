"""Pieces every tab shares: error handling, model-card display, the 'not available' notice.

Tabs only lay out components and call ``core``; everything here is Gradio glue.
"""

from __future__ import annotations

import functools
import html
import logging
import time
from typing import Callable

import gradio as gr

from core import checkpoints
from demos.serving import model_slot

log = logging.getLogger("demos")


EXPECTED = (ValueError, checkpoints.CheckpointNotFound)  # a user's input or choice the app cannot serve


def user_message(exc: BaseException) -> str:
    """What the page says about a failure: the reason for an expected one, never a traceback or server path."""
    if isinstance(exc, checkpoints.CheckpointNotFound):
        return exc.user_message
    if isinstance(exc, ValueError):
        return str(exc)
    return f"Something went wrong on the server ({type(exc).__name__}); it has been logged. The rest of the app still works."


def report(exc: BaseException, where: str) -> str:
    """Log a failure (one INFO line for an expected one, a traceback otherwise) and return its page message.

    The message is HTML-escaped: Gradio renders toast text as HTML, and messages may quote the user's input.
    """
    if isinstance(exc, EXPECTED):
        log.info("%s rejected input: %s", where, exc)
    else:
        log.error("unexpected error in %s", where, exc_info=exc)
    return html.escape(user_message(exc), quote=False)


def guarded(fn: Callable) -> Callable:
    """Wrap an event handler that produces results: it runs in a model slot (``demos.serving``), and a failure
    becomes one ``gr.Error`` toast with a readable message (Gradio then marks the outputs as failed; already
    logged, so Gradio prints no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with model_slot():
                return fn(*args, **kwargs)
        except gr.Error:
            raise
        except Exception as exc:  # every failure becomes a readable toast
            raise gr.Error(report(exc, fn.__qualname__), print_exception=False) from exc

    return wrapper


def guarded_keeping_outputs(fn: Callable) -> Callable:
    """Wrap an event handler whose outputs include controls or per-user state: it runs in a model slot, and a
    failure becomes one warning toast and every output keeps its value (``gr.Error`` would mark each output with
    an "Error" pill)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            with model_slot():
                return fn(*args, **kwargs)
        except Exception as exc:  # the state must survive any failure
            gr.Warning(report(exc, fn.__qualname__))
            return gr.skip()

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


def model_selector(model: str, label: str = "Model", elem_id: str | None = None) -> gr.Dropdown:
    """Bundled model first, then the public Hub checkpoints; without network they are marked as needing it."""
    choices = checkpoints.sources(model) or [checkpoints.BUNDLED]
    online = checkpoints.hub_reachable()
    hub = [c for c in choices if c != checkpoints.BUNDLED]
    if not hub:
        info = "Trained by this repo."
    elif online:
        info = "'bundled' is trained by this repo; the others are downloaded from the Hugging Face Hub on first use."
    else:
        info = "'bundled' is trained by this repo. The Hub models need network, which this server does not have."
    return gr.Dropdown(
        choices=[(c if online or c == checkpoints.BUNDLED else f"{c} (needs network)", c) for c in choices],
        value=choices[0],
        label=label,
        info=info,
        elem_id=elem_id,
    )


def model_switch(selector: gr.Dropdown, outputs: list, apply: Callable[[str], tuple], api_name: str) -> None:
    """Wire a model dropdown: ``apply(choice)`` loads the chosen model and gives the new values of ``outputs``.
    When it fails (no network for a Hub model), one toast says why, the dropdown goes back to the model in use
    and every other control keeps its value."""
    active = gr.State(selector.value)

    def switch(choice: str, current: str) -> tuple:
        try:
            values = apply(choice)
        except Exception as exc:  # a model that does not load must leave the tab as it was
            gr.Warning(report(exc, f"{api_name} ({choice})"))
            return current, current, *[gr.skip()] * len(outputs)
        return choice, choice, *values

    # .select fires once per choice the user makes: .change would fire again when the dropdown is put back, and
    # .input fired twice for one choice in chromium (on the click and again when the list closed).
    selector.select(switch, [selector, active], [selector, active, *outputs], api_name=api_name)


def tab_error(title: str, exc: BaseException) -> str:
    """Markdown shown inside a tab whose build failed, while the other tabs keep working (details in the log)."""
    hint = (
        "Train or point to a checkpoint as described in the README."
        if isinstance(exc, checkpoints.CheckpointNotFound)
        else "Reinstall with `make run` (it installs the pinned dependencies) and check the server log."
    )
    reason = user_message(exc) if isinstance(exc, EXPECTED) else f"{type(exc).__name__}: {exc}"
    return (
        f"### This tab could not be loaded\n\n"
        f"**{title}** failed while building: {html.escape(reason)}\n\n"
        f"How to fix it: {hint} The other tabs are not affected."
    )
