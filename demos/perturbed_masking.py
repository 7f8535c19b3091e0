"""Tab: unsupervised words and trees read out of a masked LM (Perturbed Masking, kexue.fm/archives/7476)."""

from __future__ import annotations

import time

import gradio as gr
import numpy as np

from core import checkpoints
from core.perturbed_masking import figures, impact, model, segment, trees
from demos.common import (clear_error_marks, guarded, model_card_accordion, model_selector, model_switch, tab_intro,
                          timed)

MODEL = "perturbed_masking"
MAX_CHARS = 64  # interactive cap: a 64-char tree needs up to ~2,000 masked copies on a CPU
EXAMPLES = [
    "大肠杆菌是人和许多动物肠道中最主要且数量最多的一种细菌",
    "计算机的鼠标有什么比较特殊的用途呢",
    "北京大学的学生正在图书馆里认真地复习功课",
    "我们 在 野生 动物园 玩",
]
TREE_WORDS = ["Perturbed Masking words", "jieba words", "my spaces"]
RULE_CHOICES = [("impact ≥ threshold (Su)", "absolute"), ("impact ÷ stronger neighbour's ≥ threshold", "relative"),
                ("relative + prediction contrast ≥ threshold", "combined"),
                ("read-out of every layer, fitted on segmented text ≥ threshold", "fitted")]

INTRO = tab_intro("**Type a Chinese sentence**: see the words and trees a masked language model's own impacts give it, "
                  "beside jieba's words.", MODEL, "pku_test_f1", "f1",
                  "Its words reach F1 **{:.3f}** on the PKU test set (jieba's dictionary words score higher).")

HOW_IT_WORKS = """Perturbed Masking (Wu et al., ACL 2020; [Su Jianlin, 无监督分词和句法分析](https://kexue.fm/archives/7476)) masks a
character, then masks a second one, and measures how far the first one's hidden vector moves:
f(xᵢ, xⱼ) = ‖H(x∖{xᵢ})ᵢ − H(x∖{xᵢ, xⱼ})ᵢ‖. Neighbours that move each other a lot are joined into one word. Three rules
need no labelled data: Su's compares the impact with a threshold, the relative rule compares it with the larger impact of
the two neighbouring gaps, and the combined rule adds how much more the two characters help the LM predict each other than
their neighbours do. The fourth (the bundled model's default) is a **fitted read-out**: 60 weights over that evidence, on
every layer and for the two gaps on either side, fitted on 700 segmented People's Daily sentences; the LM itself never
sees a word boundary. Numbers and Latin words always stay whole. The word-level impact matrix gives a constituency tree
(Su's top-down split) and a dependency tree (Eisner). Type words separated by spaces and pick "my spaces" to parse your
own segmentation. The bundled masked LM is small (4 layers; 19,000 steps, about 4.5 hours on a 2-core CPU, over 21 M
characters of raw text): with the fitted read-out its words come close to jieba's, the unsupervised rules' less so, and
its trees do not beat a left-branching chain (see the model card); `bert-base-chinese` (model selector, when online) is the published setting. """


def encoder_for(source: str) -> impact.Encoder:
    return checkpoints.load(MODEL, model.load, source)


def sentence_of(text: str) -> str:
    chars = "".join((text or "").split())
    if not chars:
        raise ValueError("Type a Chinese sentence first (or click an example).")
    if len(chars) > MAX_CHARS:
        raise ValueError(
            f"The text has {len(chars)} characters; this tab takes at most {MAX_CHARS}. Split it into sentences, or "
            "segment long text with `python -m core.perturbed_masking.evaluate` / `core.perturbed_masking.segment.segment`, "
            "which cut it at punctuation."
        )
    return chars


def check_layer(encoder: impact.Encoder, layer: float) -> int:
    layer = int(layer)
    if not 0 <= layer <= encoder.num_layers:
        raise ValueError(f"This model has layers 0–{encoder.num_layers} (0 = embeddings); pick one of those.")
    return layer


def tree_words(state: dict, mode: str, ours: list[str]) -> list[str]:
    if mode == TREE_WORDS[0]:
        return ours
    if mode == TREE_WORDS[1]:
        return segment.jieba_words(state["text"])
    typed = state["typed"].split()
    if len(typed) < 2:
        raise ValueError('"my spaces" parses the words you typed: separate them with spaces, e.g. 我们 在 野生 动物园 玩')
    return typed


def stored_analysis(state: dict, source: str) -> segment.Segmentation:
    """The cached evidence of the analysed text, with the model's fitted read-out."""
    return segment.Segmentation(state["text"], state["gaps"], state["gains"], encoder_for(source).defaults.readout,
                                state.get("breaks", frozenset()))


def segmentation_view(state: dict, source: str, layer: int, threshold: float, rule: str):
    analysis = stored_analysis(state, source)
    ours = analysis.words(layer, threshold, rule)
    words_html = figures.compare_html(ours, segment.jieba_words(state["text"]))
    bars = (figures.gap_bars(state["text"], analysis.scores(layer, rule), threshold, rule, analysis.breaks)
            if len(state["text"]) > 1 else "")
    return ours, words_html, bars


def threshold_range(state: dict | None, source: str, layer: int, threshold: float, rule: str) -> float:
    """Slider maximum: a little above the largest score of this text (and the threshold); before any text, a
    range in the scale of the threshold (the rules' scores differ by an order of magnitude)."""
    if not state:
        return round(2.5 * threshold, 1)
    scores = stored_analysis(state, source).scores(layer, rule)
    return round(float(np.ceil(max(np.nanmax(scores, initial=0.0), threshold) * 12)) / 10, 1)


def info_line(state: dict, encoder: impact.Encoder, layer: int, ms: float, work: str) -> str:
    count = len(state["text"])
    return f"{count} character{'s' if count != 1 else ''} · layer {layer} of {encoder.num_layers} · {ms:.0f} ms ({work})"


def render(state: dict, source: str, layer: float, threshold: float, rule: str, mode: str, progress=None):
    """The info line and every view, for the cached impacts of ``state`` (computing a word matrix if needed)."""
    start = time.perf_counter()
    encoder = encoder_for(source)
    layer = check_layer(encoder, layer)
    ours, words_html, bars = segmentation_view(state, source, layer, threshold, rule)
    words = tree_words(state, mode, ours)
    matrix = impact.word_matrix(encoder, words, progress)[layer]
    tree = trees.split_tree(words, matrix)
    heads = trees.dependency_heads(matrix)
    return (
        info_line(state, encoder, layer, (time.perf_counter() - start) * 1000.0, "trees"),
        words_html,
        bars,
        figures.heatmap(words, matrix),
        figures.constituency_svg(tree),
        figures.dependency_svg(words, heads),
        trees.bracketed(tree),
    )


def analyse(text, source, layer, threshold, rule, mode, progress=gr.Progress()):
    encoder = encoder_for(source)
    chars = sentence_of(text)
    check_layer(encoder, layer)

    def report(done: int, total: int) -> None:
        progress(done / total, desc=f"masked copies {done}/{total}")

    def run():
        analysis = segment.analyse(encoder, text, report)  # the typed text: its spaces part Latin words
        state = {"text": chars, "typed": text.strip(), "gaps": analysis.gaps, "gains": analysis.gains,
                 "breaks": analysis.breaks}
        return state, render(state, source, layer, threshold, rule, mode, report)

    (state, (_, *views)), ms = timed(run)
    slider = gr.update(maximum=threshold_range(state, source, int(layer), threshold, rule))
    return state, slider, info_line(state, encoder, int(layer), ms, "model + trees"), *views


def resegment(state, source, layer, threshold, rule):
    """Threshold moved: words and bars from the cached gaps, no model call."""
    if not state:
        return gr.skip(), gr.skip()
    layer = check_layer(encoder_for(source), layer)
    _, words_html, bars = segmentation_view(state, source, layer, threshold, rule)
    return words_html, bars


def redraw(state, source, layer, threshold, rule, mode):
    """Layer, threshold (on release), rule or tree words changed: everything from cached impacts where possible."""
    if not state:
        return gr.skip()
    return render(state, source, layer, threshold, rule, mode)


def switch_rule(state, source, layer, rule, mode):
    """Rule switched: its tuned threshold (the rules' scores live on different scales) and the views, in one step
    so that a quick second switch can never be overtaken by the first one's redraw."""
    encoder = encoder_for(source)
    threshold = encoder.defaults.threshold_of(rule)
    layer = check_layer(encoder, layer)
    slider = gr.update(value=threshold, maximum=threshold_range(state, source, layer, threshold, rule))
    return (slider, *(render(state, source, layer, threshold, rule, mode) if state else (gr.skip(),) * 7))


def model_defaults(source):
    """A newly chosen model's layer, rule and threshold; the old analysis is dropped (its impacts were another model's)."""
    encoder = encoder_for(source)
    defaults = encoder.defaults
    return (
        gr.update(maximum=encoder.num_layers, value=defaults.layer),
        gr.update(value=defaults.rule),
        gr.update(value=defaults.threshold, maximum=threshold_range(None, source, defaults.layer, defaults.threshold, defaults.rule)),
        None,
        f"Model `{source}` is ready: press **Segment and parse**.",
        checkpoints.model_card(MODEL, source),
    )


def initial_settings() -> tuple[int, impact.SegmentationDefaults]:
    """Control start values from the bundled model's files (PERTURBED_MASKING_CHECKPOINT when set; no weights loaded)."""
    try:
        return impact.checkpoint_defaults(checkpoints.locate(MODEL, checkpoints.BUNDLED))
    except checkpoints.CheckpointNotFound:
        return 12, impact.SegmentationDefaults(12)


def build() -> None:
    layers, defaults = initial_settings()
    gr.Markdown(INTRO)
    card = model_card_accordion(MODEL, HOW_IT_WORKS)
    with gr.Row():
        with gr.Column(scale=2):
            text = gr.Textbox(label=f"Chinese sentence (at most {MAX_CHARS} characters; spaces keep Latin words apart)",
                              lines=2, max_lines=3, placeholder=EXAMPLES[0], elem_id="perturbed_masking-text")
            run = gr.Button("Segment and parse", variant="primary", elem_id="perturbed_masking-run")
            examples = gr.Examples([[e] for e in EXAMPLES], inputs=[text], label="Examples (click to analyse)")
        with gr.Column(scale=1):
            source = model_selector(MODEL, elem_id="perturbed_masking-model")
            layer = gr.Slider(0, layers, value=defaults.layer, step=1, label="Layer (0 = embeddings)", elem_id="perturbed_masking-layer",
                              info="For the trees and the unsupervised rules (the fitted read-out reads every layer). "
                                   "Impacts of every layer come from one pass: switching layers is instant.")
            rule = gr.Radio(RULE_CHOICES, value=defaults.rule, label="Join neighbours when", elem_id="perturbed_masking-rule",
                            info="The relative rule compares each gap with the gaps beside it; the combined rule adds the LM's predictions; "
                                 "the fitted read-out weighs all of it (every layer) with weights fitted on segmented text.")
            threshold = gr.Slider(0, threshold_range(None, checkpoints.BUNDLED, defaults.layer, defaults.threshold, defaults.rule), value=defaults.threshold, step=0.01, label="Threshold (higher = finer words)",
                                  elem_id="perturbed_masking-threshold")
            mode = gr.Radio(TREE_WORDS, value=TREE_WORDS[0], label="Words for the trees", elem_id="perturbed_masking-tree-words")
    info = gr.Markdown(elem_id="perturbed_masking-info")
    words = gr.HTML(elem_id="perturbed_masking-words")
    # gr.HTML hides its label unless it sits in a container: the charts and trees need their titles.
    bars = gr.HTML(label="Impact between neighbouring characters (line = threshold)", show_label=True, container=True,
                   elem_id="perturbed_masking-bars")
    constituency = gr.HTML(label="Constituency tree (Su's top-down split)", show_label=True, container=True,
                           elem_id="perturbed_masking-constituency")
    bracketed = gr.Textbox(label="Constituency tree as brackets", interactive=False, elem_id="perturbed_masking-brackets")
    dependency = gr.HTML(label="Dependency tree (Eisner over the word impact matrix)", show_label=True, container=True,
                         elem_id="perturbed_masking-dependency")
    heat = gr.HTML(label="Word impact matrix", show_label=True, container=True, elem_id="perturbed_masking-heatmap")
    state = gr.State(None)

    # A rejected input is an error (a toast; the message for an API caller) and every output keeps its value: they
    # include controls (threshold slider) and the state, which other events share, so no "Error" mark stays on them.
    views = [info, words, bars, heat, constituency, dependency, bracketed]
    run_inputs = [text, source, layer, threshold, rule, mode]
    redraw_inputs = [state, source, layer, threshold, rule, mode]
    run_outputs = [state, threshold, *views]
    analyse_guarded, redraw_guarded = guarded(analyse), guarded(redraw)
    for event in (run.click(analyse_guarded, run_inputs, run_outputs, api_name="perturbed_masking_analyse"),
                  text.submit(analyse_guarded, run_inputs, run_outputs, api_name="perturbed_masking_analyse_submit"),
                  examples.load_input_event.then(analyse_guarded, run_inputs, run_outputs,
                                                 api_name="perturbed_masking_example")):
        clear_error_marks(event, run_outputs)
    clear_error_marks(threshold.change(guarded(resegment), [state, source, layer, threshold, rule], [words, bars],
                                       api_name="perturbed_masking_resegment", show_progress="hidden"), [words, bars])
    for event in (threshold.release(redraw_guarded, redraw_inputs, views, api_name="perturbed_masking_threshold"),
                  layer.release(redraw_guarded, redraw_inputs, views, api_name="perturbed_masking_layer"),
                  mode.change(redraw_guarded, redraw_inputs, views, api_name="perturbed_masking_tree_words")):
        clear_error_marks(event, views)
    clear_error_marks(rule.input(guarded(switch_rule), [state, source, layer, rule, mode], [threshold, *views],
                                 api_name="perturbed_masking_rule", trigger_mode="always_last"), [threshold, *views])
    model_switch(source, [layer, rule, threshold, state, info, card], model_defaults, api_name="perturbed_masking_model")
