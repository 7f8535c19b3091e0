"""Tab: similar sentences and sentence similarity with RoFormer-Sim (Su Jianlin, kexue.fm/archives/8454, /8541)."""

from __future__ import annotations

import html
import time
from pathlib import Path

import gradio as gr

from core import checkpoints
from core.roformer_sim import fluency, generate, search
from core.roformer_sim.model import load
from demos.common import guarded, model_card_accordion, model_selector, model_switch, tab_intro, timed

MAX_HEATMAP_LINES = 12
DEFAULTS = generate.TAB_DEFAULTS  # evaluate shown measures what these settings show
DECODINGS = {"sampling (top-p)": False, "beam search": True}  # label -> generate's beam flag
DEFAULT_DECODING = next(label for label, beam in DECODINGS.items() if beam == DEFAULTS["beam"])

INTRO = tab_intro("**Type a Chinese sentence** for paraphrases: mostly light edits of the input, ordered by a check fitted "
                  "on a team reader's verdicts (on new everyday sentences that reader accepts 40–45% of the top five; "
                  "✓ marks a lenient fluency judge); compare two sentences, draw a similarity matrix or "
                  "search a list by meaning.",
                  "roformer_sim", "test_spearman", "spearman.avg",
                  "Its similarity scores agree with human labels at Spearman×100 **{:.1f}** (4 Chinese test sets).")

HOW_IT_WORKS = """RoFormer-Sim (SimBERTv2) is one network with two jobs: a UniLM seq2seq that **writes** sentences similar to the input, and a
sentence vector (the [CLS] state through a linear pooler) whose cosine **scores** similarity
([Su Jianlin, SimBERTv2来了](https://kexue.fm/archives/8454), [-FT](https://kexue.fm/archives/8541)).
By default the n candidates are the n most likely sentences by beam search (with a key/value cache; no character doubled
unless the input doubles it, no pair of characters written twice; once the input's last two characters are written, only a
particle or the end is cheap, so no question is appended: 今天天气不错怎么回事); "sampling" draws n with top-p in one batch instead. They
are deduplicated (a candidate that changes only the input's punctuation is the input again, and is dropped) and ordered
by the **reader check**: a logistic model fitted on one team reader's verdicts of 1,211 beam candidates (fluent and
keeping the meaning, or not), over the cosine to the input, the generator's probability of the candidate and of the
input back from it, the fluency judge's score and the size of the edit. On 40 new everyday sentences read blind, that
reader accepted 45% of the tab's top five, against 31.5% without the tail penalty; that reading also chose the penalty.
On 40 other new sentences, which chose nothing: 39.5%, against 33.5% without it and 29% in cosine order.
It is fitted to the bundled generator's numbers, so a Hub checkpoint is ordered by cosine.
"Changes to the input" spells out each edit (早→晚, +啊, −请): a swapped word that turns the meaning barely moves the cosine.
Beam search was chosen on held-out inputs: it keeps close to the input, where this tiny model's samples drift into
salad. The fluency judge (✓; not the generator) is checked on a blind reader's labels of sampled candidates (it accepts
7 of 8 fluent ones and rejects 87% of the rest), but it passes most beam candidates, faithful or not; the tab says so
when none passes.
Mask positions (token numbers, 1 = first character) let the model "fill in and rephrase".
The bundled model is tiny (4.2M parameters, trained left to right on modern prose and then on sentence pairs, on
this repo's 2-core CPU; see the model card).
When online, pick a Hub checkpoint for real paraphrases."""

PARAPHRASE_EXAMPLES = ["广州和深圳哪个好？", "我喜欢北京", "今天天气不错", "怎么开通花呗", "微信账号怎么注销"]
PAIR_EXAMPLES = [
    ["我喜欢北京", "我不喜欢北京"],
    ["今天天气不错", "今天天气很好"],
    ["今天天气不错", "今天天气不好"],
    ["给我推荐一款红色的车", "推荐一辆红车"],
]
HEATMAP_EXAMPLE = "我喜欢北京\n我很喜欢北京\n我不喜欢北京\n今天天气不错\n今天天气很好\n广州和深圳哪个好？"
SEARCH_EXAMPLE = "\n".join([
    "怎么开通花呗", "花呗怎么还款", "借呗额度怎么提升", "为什么我的花呗不能用了", "如何修改支付宝登录密码", "忘记支付密码怎么办",
    "怎样注销支付宝账户", "余额宝的收益怎么算", "信用卡还款有手续费吗", "转账到银行卡多久到账", "如何申请退款", "快递一直没到怎么办",
])
SEARCH_QUERY_EXAMPLE = "花呗用不了是什么原因"
INDEXES = search.IndexCache()  # encoded lists shared by all users of this process


def sim_for(source: str | None):
    """The selected model ('bundled': ROFORMER_SIM_CHECKPOINT when set, else assets/; core.checkpoints decides)."""
    return checkpoints.load("roformer_sim", load, source or None)


def load_choice(source: str) -> tuple:
    """Load a newly picked model; no other control depends on which model it is."""
    sim_for(source)
    return ()


def parse_positions(text: str) -> list[int]:
    try:
        return [int(p) for p in (text or "").replace("，", ",").split(",") if p.strip()]
    except ValueError:
        raise ValueError(f"mask positions must be token numbers separated by commas, e.g. 2,3 (got {text!r})") from None


def fluency_judge() -> fluency.FluencyJudge:
    """The fluency judge of candidates (loaded once; the same for every paraphrase model)."""
    return checkpoints.cached("roformer_sim_fluency", fluency.FluencyJudge)


def paraphrases(text, n, k, top_p, seed, mask_positions, fluent_first, decoding, source):
    if decoding not in DECODINGS:
        raise ValueError(f"decoding must be one of {', '.join(DECODINGS)} (got {decoding!r})")
    beam = DECODINGS[decoding]
    sim = sim_for(source)
    shown_rows, ms = timed(fluency.judged_paraphrases, sim, fluency_judge(), text, int(n), int(k), float(top_p), seed,
                           parse_positions(mask_positions), bool(fluent_first), DEFAULTS["copy_bias"], DEFAULTS["repetition_penalty"],
                           beam, DEFAULTS["tail_penalty"])
    rows = [[i + 1, sentence, generate.changes(text.strip(), sentence), round(reader, 2) if reader is not None else None,
             round(cosine, 4), round(score, 2), "✓" if fluent else ""]
            for i, (sentence, cosine, score, fluent, reader) in enumerate(shown_rows)]
    shown = html.escape(text.strip())
    fluent_count = sum(row[3] for row in shown_rows)
    drawn = f"{int(n)} beams" if beam else f"{int(n)} sampled"
    # the reader check is fitted to the bundled generator's numbers; another model's candidates stay in cosine order
    order = "ordered by the reader check" if shown_rows and shown_rows[0][4] is not None else "ordered by cosine"
    note = (f"{shown} → {len(shown_rows)} distinct candidates (of {drawn}; the input and candidates that change only its punctuation dropped), "
            f"{order} · {fluent_count} pass the fluency judge · **{ms:.0f} ms**")
    if shown_rows and not fluent_count:
        note += ("  \n**No candidate passed the fluency judge**: none of these is likely to read as fluent Chinese. "
                 + ("Try more beams (n) or sampling." if beam else "Try more candidates (n), another seed or beam search."))
    if not shown_rows:
        retry = "raise n or try sampling" if beam else "raise top-p or n"
        note = f"{shown} → all {drawn} repeated the input or changed only its punctuation: {retry}. · **{ms:.0f} ms**"
    return rows, note


def sampling_controls(decoding: str) -> tuple:
    """Top-p and seed only steer sampling: greyed out under beam search."""
    sampling = not DECODINGS.get(decoding, False)
    return gr.update(interactive=sampling), gr.update(interactive=sampling)


def compare(a, b, source):
    score, ms = timed(generate.similarity, sim_for(source), a, b)
    return f"## cosine = {score:.4f}\n\n{html.escape(a.strip())} ↔ {html.escape(b.strip())} · {ms:.0f} ms"


def heatmap_html(texts: list[str], matrix) -> str:
    """Cosine matrix as a coloured HTML table (browser fonts render Chinese; no plotting library needed)."""
    def cell(value: float) -> str:
        alpha = max(0.0, min(1.0, value))
        color = "#fff" if alpha > 0.6 else "#111"
        return f'<td style="background: rgba(37, 99, 235, {alpha:.2f}); color: {color}; text-align: center; padding: 4px 8px">{value:.3f}</td>'

    head = "".join(f'<th style="padding: 4px 8px; font-weight: normal">{i + 1}</th>' for i in range(len(texts)))
    body = "".join(
        f'<tr><th style="text-align: left; padding: 4px 8px; font-weight: normal">{i + 1}. {html.escape(t)}</th>'
        + "".join(cell(float(v)) for v in row) + "</tr>"
        for i, (t, row) in enumerate(zip(texts, matrix))
    )
    return f'<table style="border-collapse: collapse"><tr><th></th>{head}</tr>{body}</table>'


def heatmap(lines, source):
    texts = [line.strip() for line in (lines or "").splitlines() if line.strip()]
    if len(texts) < 2:
        raise ValueError("Type at least two sentences, one per line.")
    if len(texts) > MAX_HEATMAP_LINES:
        raise ValueError(f"At most {MAX_HEATMAP_LINES} sentences, one per line (got {len(texts)}).")
    matrix, ms = timed(generate.similarity_matrix, sim_for(source), texts)
    return heatmap_html(texts, matrix) + f"<p>{len(texts)} sentences · {ms:.0f} ms</p>"


def sentence_list(pasted: str, upload: str | None) -> tuple[list[str], str]:
    """The list to search and where it came from: an uploaded file wins over the pasted text."""
    if upload:
        return search.sentences_from_file(upload), Path(upload).name
    return search.sentences_from_text(pasted), "the pasted list"


def sentence_search(pasted, upload, query, k, source, progress=gr.Progress()):
    query, k = search.check_query(query), search.check_k(int(k))  # before a long list is encoded for nothing
    sentences, origin = sentence_list(pasted, upload)
    search.check_sentences(sentences)
    sim = sim_for(source)
    start = time.perf_counter()
    index, cached = INDEXES.get(
        sim, sentences, lambda done: progress((done, len(sentences)), desc="Encoding the list", unit="sentences")
    )
    encoded = "vectors reused" if cached else f"encoded in {time.perf_counter() - start:.1f} s"
    results, ms = timed(lambda: index.search(search.query_vector(sim, query), k))
    rows = [[i + 1, sentence, round(score, 4)] for i, (sentence, score) in enumerate(results)]
    note = (f"{html.escape(query)} → top {len(rows)} of {len(sentences):,} sentences from {html.escape(origin)} "
            f"({encoded}; look-up: {index.library}) · query **{ms:.0f} ms**")
    return rows, note


def build() -> None:
    gr.Markdown(INTRO)
    model_card_accordion("roformer_sim", HOW_IT_WORKS)
    source = model_selector("roformer_sim", elem_id="roformer_sim-model")
    # Loaded when picked: a model that cannot be loaded (no network) is refused there, not at the next click.
    model_switch(source, [], load_choice, api_name="roformer_sim_model")

    with gr.Row():
        with gr.Column(scale=2):
            text = gr.Textbox(label="Chinese sentence", placeholder="广州和深圳哪个好？", max_lines=2, elem_id="roformer_sim-text")
            with gr.Row():
                n = gr.Slider(1, generate.MAX_CANDIDATES, value=DEFAULTS["n"], step=1, label="n: candidates sampled (or beams)",
                              elem_id="roformer_sim-n")
                k = gr.Slider(1, 50, value=DEFAULTS["k"], step=1, label="k: candidates shown", elem_id="roformer_sim-k")
            decoding = gr.Radio(list(DECODINGS), value=DEFAULT_DECODING, label="decoding", elem_id="roformer_sim-decoding",
                                info="beam search keeps the n most likely sentences (top-p and seed unused); sampling draws n")
            with gr.Row():
                top_p = gr.Slider(0.05, 1.0, value=DEFAULTS["top_p"], step=0.01, label="top-p", elem_id="roformer_sim-top-p",
                                  interactive=not DEFAULTS["beam"])
                seed = gr.Number(value=DEFAULTS["seed"], precision=0, label="seed", elem_id="roformer_sim-seed",
                                 interactive=not DEFAULTS["beam"])
                mask_positions = gr.Textbox(label="mask positions (optional)", placeholder="e.g. 2,3",
                                            elem_id="roformer_sim-mask")
            fluent_first = gr.Checkbox(value=DEFAULTS["fluent_first"], label="Candidates passing the fluency judge first", elem_id="roformer_sim-fluent-first",
                                       info="Fluency is judged by a logistic model over a separate masked LM's and character LM's likelihoods "
                                            "and jieba's dictionary, checked on a blind reader's labels and corrupted sentences; not by "
                                            "the generator.")
            run = gr.Button("Generate paraphrases", variant="primary", elem_id="roformer_sim-generate")
        with gr.Column(scale=3):
            latency = gr.Markdown("Type a sentence and press generate, or click an example.", elem_id="roformer_sim-latency")
            table = gr.Dataframe(headers=["#", "paraphrase", "changes to the input", "reader check (probability)", "cosine to input",
                                          "fluency (judge probability)", "passes judge"],
                                 datatype=["number", "str", "str", "number", "number", "number", "str"],
                                 interactive=False, wrap=True, elem_id="roformer_sim-candidates")
    decoding.change(sampling_controls, decoding, [top_p, seed], queue=False, api_name="roformer_sim_sampling_controls",
                    api_visibility="private")
    inputs = [text, n, k, top_p, seed, mask_positions, fluent_first, decoding, source]
    gr.Examples(
        examples=[[t, DEFAULTS["n"], DEFAULTS["k"], DEFAULTS["top_p"], DEFAULTS["seed"], "", DEFAULTS["fluent_first"], DEFAULT_DECODING,
                   checkpoints.BUNDLED]
                  for t in PARAPHRASE_EXAMPLES],
        inputs=inputs,
        outputs=[table, latency],
        fn=guarded(paraphrases),
        run_on_click=True,
        cache_examples=False,
        example_labels=PARAPHRASE_EXAMPLES,
        label="Examples (click one to generate with the bundled model)",
        api_name="roformer_sim_paraphrase_example",
    )
    run.click(guarded(paraphrases), inputs, [table, latency], api_name="roformer_sim_paraphrase")
    text.submit(guarded(paraphrases), inputs, [table, latency], api_name="roformer_sim_paraphrase_submit")

    gr.Markdown("### Compare two sentences")
    with gr.Row():
        first = gr.Textbox(label="Sentence A", elem_id="roformer_sim-a")
        second = gr.Textbox(label="Sentence B", elem_id="roformer_sim-b")
    compare_button = gr.Button("Compare", elem_id="roformer_sim-compare")
    score = gr.Markdown(elem_id="roformer_sim-score")
    gr.Examples(examples=PAIR_EXAMPLES, inputs=[first, second], label="Su's pairs (click one, then compare)")
    compare_button.click(guarded(compare), [first, second, source], score, api_name="roformer_sim_similarity")

    gr.Markdown("### Similarity matrix")
    with gr.Row():
        lines = gr.Textbox(label=f"Sentences, one per line (2 to {MAX_HEATMAP_LINES})", lines=6, value=HEATMAP_EXAMPLE,
                           elem_id="roformer_sim-lines")
        matrix = gr.HTML(elem_id="roformer_sim-heatmap")
    matrix_button = gr.Button("Show the similarity heatmap", elem_id="roformer_sim-matrix")
    matrix_button.click(guarded(heatmap), [lines, source], matrix, api_name="roformer_sim_matrix")

    gr.Markdown(
        "### Search a list of sentences\n"
        f"The FAQ-bot use of SimBERT / RoFormer-Sim: paste a list (one sentence per line) or upload a .txt or .csv "
        f"(first column), up to {search.MAX_LINES:,} lines, then type a query. The list is encoded once (progress bar) "
        "and its vectors are reused for every later query on it; results are ranked by cosine."
    )
    with gr.Row():
        with gr.Column(scale=2):
            search_list = gr.Textbox(label="Sentences, one per line", lines=8, value=SEARCH_EXAMPLE,
                                     elem_id="roformer_sim-search-list")
            search_file = gr.File(label="…or upload a list (.txt one per line, .csv first column)", file_types=[".txt", ".csv"],
                                  type="filepath", elem_id="roformer_sim-search-file")
        with gr.Column(scale=3):
            with gr.Row():
                search_query = gr.Textbox(label="Query", value=SEARCH_QUERY_EXAMPLE, max_lines=2, scale=3,
                                          elem_id="roformer_sim-search-query")
                search_k = gr.Slider(1, 50, value=5, step=1, label="k: results", scale=1, elem_id="roformer_sim-search-k")
            search_button = gr.Button("Search the list", variant="primary", elem_id="roformer_sim-search")
            search_note = gr.Markdown(elem_id="roformer_sim-search-note")
            search_table = gr.Dataframe(headers=["#", "sentence", "cosine to query"], datatype=["number", "str", "number"],
                                        interactive=False, wrap=True, elem_id="roformer_sim-search-results")
    search_inputs = [search_list, search_file, search_query, search_k, source]
    search_button.click(guarded(sentence_search), search_inputs, [search_table, search_note], api_name="roformer_sim_search")
    search_query.submit(guarded(sentence_search), search_inputs, [search_table, search_note],
                        api_name="roformer_sim_search_submit")
