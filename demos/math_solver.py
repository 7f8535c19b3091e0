"""Tab: a tree decoder or a T5 writes the equation of a primary-school word problem; a safe evaluator computes the exact answer."""

from __future__ import annotations

import json
import math
from itertools import islice

import gradio as gr

from core import checkpoints
from core.math_solver import confidence, data, normalize, solvers, working
from core.math_solver.solution import Candidate, Solution, equation_tree
from demos.common import guarded, model_card_accordion, tab_intro, timed

MODEL = "math_solver"
N_EXAMPLES = 6
# Shown when the Ape210K test file is not on this machine (written for this demo, not from a dataset).
TYPED_EXAMPLES = [
    "学校把135本练习本平均分给3个班，每班多少本？",
    "一件上衣原价480元，现在降价20%，现在卖多少元？",
    "一段布长6米，用去了它的(2/5)，还剩多少米？",
    "小明看一本120页的书，第一天看了全书的(1/4)，第二天看了30页，还剩多少页没看？",
    "一辆汽车3小时行驶了195千米，照这样的速度，行驶325千米需要多少小时？",
    "45名同学去划船，每条船最多坐6人，至少需要多少条船？",
]

# What the intro says the tab's solver is (``solvers.preferred_kind``: the one with the higher recorded dev accuracy),
# and the metrics entry of its Ape210K test score.
BUNDLED_MODELS = {  # what it is, its Ape210K test metric, what it learnt from
    "tree": ("a 2.6M-parameter goal-driven tree decoder (GTS class)", "tree_ape210k_test_beams5",
             "Ape210K valid and Math23K (about 25k problems) and on 6,148 answer-only CCF-BDCI problems whose equations "
             "its own beams found"),
    "t5": ("a 4M-parameter T5", "ape210k_test_beams3", "Ape210K valid and Math23K (about 25k problems)"),
}
BUNDLED_KIND = solvers.preferred_kind(checkpoints.spec(MODEL).asset_dir)

INTRO = tab_intro("**Paste a Chinese primary-school word problem**: "
                  f"{BUNDLED_MODELS[BUNDLED_KIND][0]} writes an equation, and the answer is worked out exactly, step by step.",
                  MODEL, BUNDLED_MODELS[BUNDLED_KIND][1], "accuracy",
                  "It answers **{:.1%}** of the Ape210K test problems right: check its equation.")

HOW_IT_WORKS = f"""A small model reads the problem with its numbers replaced by placeholders (N0, N1, …) and writes an equation over them
with beam search; the numbers are put back and the equation is evaluated **exactly** (fractions, not floats) by a
whitelist parser — model output is never run as code. The answer comes from the best beam whose value a primary-school
problem can have (for a checkpoint with a learned **ranker**, such as the T5, from the beam the ranker prefers: it weighs
the beams' probabilities, how they agree, that plausibility, whether the equation uses the problem's numbers, and a few
cues of what the question asks for, e.g. a count wants a whole number), written the way a teacher would (percent for 百分之几, whole numbers for counting questions),
with the **working**: each operation of the equation and its exact result. The model's probability of the answer (summed over
the beams that give it) says when to check: below {confidence.UNSURE_BELOW:.0%} the answer is marked **unsure: check this one**.
After [Su Jianlin, BERT可以上几年级了？Seq2Seq“硬刚”小学数学应用题](https://kexue.fm/archives/7809) (Ape210K).
A fine-tuned mT5 directory from `python -m core.math_solver.train --init google/mt5-small` can be used with
`MATH_SOLVER_CHECKPOINT=<dir>`.

**The bundled model**: {BUNDLED_MODELS[BUNDLED_KIND][0]}, trained here on {BUNDLED_MODELS[BUNDLED_KIND][2]}
(see the model card). Check its equation before trusting the answer."""


def test_set_examples() -> list[str]:
    """A handful of short Ape210K test problems when the data is here (read lazily, a few lines only)."""
    if not data.APE_TEST.is_file():
        return TYPED_EXAMPLES
    with data.APE_TEST.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["original_text"] for line in islice(lines, 200)]
    short = [t for t in texts if 15 <= len(t) <= 60 and "()" not in t]  # "(())" marks a blank to fill in
    return short[:: max(1, len(short) // N_EXAMPLES)][:N_EXAMPLES] or TYPED_EXAMPLES


def problem_markdown(problem: normalize.Problem) -> str:
    numbers = " · ".join(f"**N{i}** = {n.text}" for i, n in enumerate(problem.numbers))
    if any(n.text.endswith("%") for n in problem.numbers):
        numbers += "\n\n*A % after a placeholder only marks a percent: the placeholder holds the whole number (20% = 1/5).*"
    return f"**What the model reads:** {problem.source}\n\n{numbers}"


def answer_markdown(solution: Solution, ms: float) -> str:
    answer = solution.answer
    if answer is None:
        tried = "; ".join(f"`{c.written}`: {c.error}" for c in solution.candidates)
        return (f"## No answer\nNone of the {len(solution.candidates)} equations the model wrote can be evaluated "
                f"({tried}). Try more beams or rephrase the problem.\n\n_{ms:.0f} ms_")
    best = solution.best
    lines = [f"## Answer: {answer.answer}", confidence_markdown(solution),
             f"**Equation:** {best.equation} = {answer.exact}", working_markdown(solution),
             f"Exact: **{answer.exact}** · decimal: **{answer.decimal}**"]
    if answer.note:
        lines.append(f"_{answer.note}_")
    if best is not solution.candidates[0]:
        lines.append(f"_{beam_choice_note(solution)}_")
    if not normalize.plausible_answer(best.value, solution.problem):
        plausible = [k for k, c in enumerate(solution.candidates, 1)
                     if c.value is not None and normalize.plausible_answer(c.value, solution.problem)]
        lines.append(f"_The ranker chose a value a primary-school problem is unlikely to have, though beam "
                     f"{', '.join(map(str, plausible))} gives a plausible one: check the equation._" if plausible else
                     "_No beam gave a plausible answer (a positive whole number, short decimal or simple fraction): "
                     "check the equation._")
    lines.append(f"_{len(solution.candidates)} beams · {ms:.0f} ms_")
    return "\n\n".join(lines)


def percent(probability: float) -> str:
    return f"{probability:.1%}" if probability < 0.1 else f"{probability:.0%}"


def confidence_markdown(solution: Solution) -> str:
    """How sure the model is of its answer, and a clear 'check this one' when it is not."""
    agreeing = [k + 1 for k in confidence.agreeing_beams(solution)]
    beams = f"beam {agreeing[0]}" if len(agreeing) == 1 else "beams " + ", ".join(map(str, agreeing)) + " agree"
    probability = percent(confidence.answer_probability(solution))
    if confidence.is_unsure(solution):
        return (f"### ⚠️ Unsure: check this one\nThe model gives this answer only **{probability}** probability ({beams}; "
                f"below {confidence.UNSURE_BELOW:.0%} it is often wrong). Work it out yourself or compare the equations below.")
    return f"**Confidence:** the model gives this answer **{probability}** probability ({beams})."


def working_markdown(solution: Solution) -> str:
    """The chosen equation worked out step by step, as a teacher writes it under the problem."""
    steps = working.steps(equation_tree(solution.best.written, solution.problem))
    if not steps:
        return "**Working:** the equation is a number of the problem; there is nothing to work out."
    return "**Working:**\n\n" + "\n".join(f"{k}. {step}" for k, step in enumerate(steps, 1))


def beam_choice_note(solution: Solution) -> str:
    """Why the answer does not come from beam 1."""
    rank = solution.candidates.index(solution.best) + 1
    if solution.ranker_probabilities is not None:
        first, chosen = solution.ranker_probabilities[0], solution.ranker_probabilities[rank - 1]
        return (f"The ranker prefers beam {rank} (its chance of being right: {percent(chosen)}, beam 1: "
                f"{percent(first)}); this answer comes from beam {rank}.")
    above = "Beam 1" if rank == 2 else f"Beams 1–{rank - 1}"
    return (f"{above} could not be evaluated or gave no plausible answer (negative, or a long fraction the problem "
            f"gives no reason for); this answer comes from beam {rank}.")


def value_text(candidate: Candidate, problem: normalize.Problem) -> str:
    if candidate.value is None:
        return f"cannot evaluate: {candidate.error}"
    text = normalize.fraction_text(candidate.value)
    return text if normalize.plausible_answer(candidate.value, problem) else f"{text} (not a plausible answer)"


# The beams table: (header, datatype, cell of (candidate, solution)). The ranker's column comes last: a solver without a
# ranker (the bundled tree decoder) leaves it out, and Gradio then drops its header too.
CANDIDATE_COLUMNS = (
    ("equation", "str", lambda c, s: c.equation or "—"),
    ("value", "str", lambda c, s: value_text(c, s.problem)),
    ("gives the answer", "str", lambda c, s: "✓" if s.best and c.value == s.best.value else ""),
    ("probability", "str", lambda c, s: percent(math.exp(c.log_prob))),
    ("score (mean log-prob)", "number", lambda c, s: round(c.score, 4)),
    ("model wrote", "str", lambda c, s: c.written),
    ("ranker: chance right", "str", lambda c, s: percent(s.ranker_probabilities[s.candidates.index(c)])),
)


def candidate_rows(solution: Solution) -> list[list]:
    columns = CANDIDATE_COLUMNS if solution.ranker_probabilities is not None else CANDIDATE_COLUMNS[:-1]
    return [[rank] + [cell(c, solution) for _, _, cell in columns] for rank, c in enumerate(solution.candidates, 1)]


def solve(text: str, beams: float):
    solver = checkpoints.load(MODEL, solvers.load)
    solution, ms = timed(solver.solve, text or "", int(beams))
    return problem_markdown(solution.problem), answer_markdown(solution, ms), candidate_rows(solution)


def build() -> None:
    gr.Markdown(INTRO)
    model_card_accordion(MODEL, HOW_IT_WORKS)
    default_beams = solvers.default_beams(checkpoints.spec(MODEL).asset_dir)
    with gr.Row():
        with gr.Column(scale=2):
            problem = gr.Textbox(label=f"Problem (Chinese, up to {normalize.MAX_PROBLEM_CHARS} characters)", lines=4,
                                 placeholder="学校把135本练习本平均分给3个班，每班多少本？", elem_id="math_solver-problem")
            beams = gr.Slider(1, 5, value=default_beams, step=1, label="Beams (equations to try)", elem_id="math_solver-beams")
            run = gr.Button("Solve", variant="primary", elem_id="math_solver-solve")
        with gr.Column(scale=3):
            answer = gr.Markdown("Paste a problem and press Solve, or click an example.", elem_id="math_solver-answer")
            normalised = gr.Markdown(elem_id="math_solver-normalised")
    table = gr.Dataframe(headers=["#"] + [header for header, _, _ in CANDIDATE_COLUMNS],
                         datatype=["number"] + [datatype for _, datatype, _ in CANDIDATE_COLUMNS], interactive=False,
                         wrap=True, label="The equations the model wrote (beams), best first", elem_id="math_solver-candidates")
    outputs = [normalised, answer, table]
    examples = test_set_examples()
    gr.Examples(
        examples=[[e, default_beams] for e in examples],
        inputs=[problem, beams],
        outputs=outputs,
        fn=guarded(solve),
        run_on_click=True,
        cache_examples=False,
        example_labels=examples,
        label="Examples from the Ape210K test set (click one to solve it)" if examples != TYPED_EXAMPLES else "Examples",
        api_name="math_solver_example",
    )
    run.click(guarded(solve), [problem, beams], outputs, api_name="math_solver_solve")
    problem.submit(guarded(solve), [problem, beams], outputs, api_name="math_solver_solve_submit")
