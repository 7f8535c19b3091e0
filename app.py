"""The demo suite: one Gradio tab per model, each built by ``demos/<name>.py: build()``.

A tab whose build fails shows its error inside the tab; the other tabs still work.
"""

from __future__ import annotations

import importlib
import logging
import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from demos import serving  # noqa: E402
from demos.common import tab_error  # noqa: E402

log = logging.getLogger("app")

# (module in demos/, tab title) in the order users see them.
TABS = [
    ("roformer_sim", "相似句 Paraphrase & similarity"),
    ("math_solver", "数学题 Math"),
    ("xiangqi", "象棋 Xiangqi"),
    ("perturbed_masking", "分词与句法 Segmentation & parse"),
    ("vae", "密度 VAE density"),
]

INTRO = """# 科学空间 demos · five models from Su Jianlin's blog
Paraphrases and sentence similarity (RoFormer-Sim), math word problems (a goal-driven tree decoder), Chinese chess against a GPT,
unsupervised segmentation and parsing (Perturbed Masking), and a VAE density estimator.
Every bundled model was trained by this repository on public data; each tab's model card says how well it scores."""


def build_app() -> gr.Blocks:
    with gr.Blocks(title="kexue.fm demos", analytics_enabled=False) as app:
        gr.Markdown(INTRO)
        for module_name, title in TABS:
            with gr.Tab(title, id=module_name, elem_id=f"tab-{module_name}"):
                try:
                    importlib.import_module(f"demos.{module_name}").build()
                except Exception as exc:  # isolate the failure to this tab
                    log.exception("tab %s failed to build", module_name)
                    gr.Markdown(tab_error(title, exc), elem_classes=["tab-error"])
    app.queue(default_concurrency_limit=serving.CONCURRENCY_PER_EVENT)
    return app


def configure_logging() -> None:
    """INFO for the app's own lines (one per rejected input, tab failures with their traceback)."""
    logging.basicConfig(level=logging.INFO)
    # faiss logs each build it tries: "Could not load library with AVX512 support due to: ModuleNotFoundError(...
    # swigfaiss_avx512)" reads like a failure, but it is faiss choosing the build this CPU runs. Its warnings stay.
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)


def main() -> None:
    configure_logging()
    serving.configure_torch()
    app = build_app()
    app.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        share=False,
        show_error=False,
    )


if __name__ == "__main__":
    main()
