"""Pieces every tab shares: error handling, model-card display, the 'not available' notice.

Tabs only lay out components and call ``core``; everything here is Gradio glue.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import time
import tomllib
from pathlib import Path
from typing import Callable

import gradio as gr

from core import checkpoints, metrics
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
    """Wrap an event handler: it runs in a model slot (``demos.serving``), and a failure becomes one ``gr.Error``
    with a readable message: a toast on the page, and the message a ``gradio_client`` caller receives (already
    logged, so Gradio prints no traceback). The outputs keep their values; Gradio marks them "Error" until the
    event next succeeds (``clear_error_marks`` takes the marks off at once where other events share the outputs)."""

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


def clear_error_marks(event, outputs: list) -> None:
    """After ``event`` failed, take Gradio's red "Error" marks off its outputs, which still hold the last good result.

    For outputs that several events share (a game's board, an analysis and its views): a mark left by one event
    would stay on after another one succeeds. The toast has already said what went wrong."""
    def keep_all() -> tuple:
        return tuple(gr.skip() for _ in outputs)

    event.failure(keep_all, None, outputs, api_name=f"{event['api_name']}_failed", api_visibility="private",
                  queue=False, show_progress="hidden")


def timed(fn: Callable, *args, **kwargs) -> tuple[object, float]:
    """Call ``fn`` and return (result, milliseconds) for the latency shown in tabs."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, (time.perf_counter() - start) * 1000.0


def tab_intro(task: str, model: str, key: str, field: str, claim: str) -> str:
    """The two lines above a tab's controls: what a visitor does here, then one number of the bundled model read from
    its metrics file (``core.metrics.figure``; ``claim`` has ``{}`` where it goes, e.g. "Spearman **{:.1f}** ..."),
    or that it has not been measured. Everything else is in ``model_card_accordion`` right below."""
    number = metrics.figure(model, key, field)
    measured = claim.format(number) if number is not None else "The bundled model has not been measured yet."
    return f"{task}  \n{measured} How it works and every score: the model card below."


def model_card_accordion(model: str, how_it_works: str = "") -> gr.Markdown:
    """A closed accordion with how the tab works and the bundled model's card (data, command, measured scores)."""
    with gr.Accordion("Model card: how it works, what it was trained on, how it scores", open=False,
                      elem_id=f"{model}-card"):
        if how_it_works:
            gr.Markdown(how_it_works)
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
    When it fails (no network for a Hub model), the error says why (a toast; the message for an API caller), the
    dropdown goes back to the model in use and every other control keeps its value."""
    active = gr.State(selector.value)

    def switch(choice: str) -> tuple:
        try:
            values = apply(choice)
        except Exception as exc:  # a model that does not load must leave the tab as it was
            raise gr.Error(report(exc, f"{api_name} ({choice})"), print_exception=False) from exc
        return choice, *values

    def put_back(current: str) -> tuple:
        return current, *[gr.skip()] * len(outputs)

    # .select fires once per choice the user makes: .change would fire again when the dropdown is put back, and
    # .input fired twice for one choice in chromium (on the click and again when the list closed).
    event = selector.select(switch, selector, [active, *outputs], api_name=api_name)
    event.failure(put_back, active, [selector, *outputs], api_name=f"{api_name}_failed", api_visibility="private",
                  queue=False, show_progress="hidden")


REPO = Path(__file__).resolve().parent.parent
# Distributions whose import name is not their own name (the rest import as their normalised name).
IMPORT_NAMES = {"protobuf": "google", "faiss-cpu": "faiss"}


def requirement_name(line: str) -> str:
    """``faiss-cpu==1.15.1`` -> ``faiss-cpu`` (lower case, ``_`` as ``-``)."""
    return re.split(r"[<>=!~;\[ ]", line.strip(), maxsplit=1)[0].replace("_", "-").lower()


def dependency_lists() -> dict[str, list[str]]:
    """Every list of dependencies this project keeps, by where a reader finds it, as requirement lines."""
    app = [ln.strip() for ln in (REPO / "requirements.txt").read_text().splitlines()
           if ln.strip() and not ln.lstrip().startswith(("#", "-"))]
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lists = {"requirements.txt (the app's dependencies, what `make run` and Hugging Face Spaces install)": app}
    for extra, lines in project.get("optional-dependencies", {}).items():
        lists[f"pyproject.toml's [{extra}] extra (not installed with the app)"] = lines
    return lists


def missing_module_hint(module: str) -> str:
    """Which dependency list names the distribution of a module that could not be imported, and what to do."""
    top = module.split(".")[0].lower()
    found = [(where, line.strip()) for where, lines in dependency_lists().items() for line in lines
             if IMPORT_NAMES.get(requirement_name(line), requirement_name(line).replace("-", "_")) == top]
    if not found:
        return (f"No dependency list of this project (requirements.txt, pyproject.toml) names a package that provides "
                f"`{top}`: the project must add it to requirements.txt and pyproject.toml's dependencies.")
    where, line = found[0]
    if where.startswith("requirements.txt"):
        return (f"{where} lists `{line}`, but this Python environment does not have it: install the app's dependencies "
                f"with `pip install -r requirements.txt` (or `make run`) and restart the app.")
    return (f"Only {where} lists `{line}`; requirements.txt, the app's dependency list, does not, so a fresh install of "
            f"the app lacks it: the project must add it to requirements.txt and pyproject.toml's dependencies, or stop "
            f"needing it in the app.")


def tab_error(title: str, exc: BaseException) -> str:
    """Markdown shown inside a tab whose build failed, while the other tabs keep working (details in the log)."""
    if isinstance(exc, checkpoints.CheckpointNotFound):
        hint = "Train or point to a checkpoint as described in the README."
    elif isinstance(exc, ImportError) and exc.name:
        hint = missing_module_hint(exc.name)
    else:
        hint = "The server log has the traceback."
    reason = user_message(exc) if isinstance(exc, EXPECTED) else f"{type(exc).__name__}: {exc}"
    return (
        f"### This tab could not be loaded\n\n"
        f"**{title}** failed while building: {html.escape(reason)}\n\n"
        f"How to fix it: {html.escape(hint, quote=False)} The other tabs are not affected."
    )
