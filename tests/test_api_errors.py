"""Every rejected input of every API endpoint is an error a ``gradio_client`` caller receives, with the page's message.

One test per public endpoint of the running app (``app_url``: `python app.py` under ``APP_PYTHON``); endpoints that
take no input a caller could get wrong are listed with the reason. A new endpoint fails the coverage test until it is
listed here.
"""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from demos.xiangqi import DEFAULT_STRENGTH as STRONG
from tests.conftest import unexpected_tracebacks

WORDS = "Perturbed Masking words"
ANALYSED = [("/perturbed_masking_analyse", ("我爱北京天安门", "bundled", 4, 1.0, "combined", WORDS))]
EMPTY_SKETCH = {"background": None, "layers": [], "composite": None, "id": None}

# endpoint: (calls that set up the session first, the rejected input, the message the caller must receive)
REJECTIONS = {
    "/roformer_sim_model": ([], ("junnyu/roformer_chinese_sim_char_ft_small",), "needs network"),
    "/roformer_sim_paraphrase": ([], ("我喜欢北京", 8, 3, 0.95, 10**23, "", True, "sampling (top-p)", "bundled"),
                                 r"seed must be a whole number from 0 to 9,007,199,254,740,991 \(2⁵³ − 1\), got a larger"),
    "/roformer_sim_paraphrase_submit": ([], ("I want to travel to Beijing", 8, 3, 0.95, 0, "", True, "sampling (top-p)", "bundled"),
                                        "reads Chinese, and the sentence 'I want to travel to Beijing' has no Chinese"),
    "/roformer_sim_similarity": ([], ("hello", "我喜欢北京", "bundled"), "reads Chinese, and the first sentence 'hello'"),
    "/roformer_sim_matrix": ([], ("我喜欢北京", "bundled"), "Type at least two sentences"),
    "/roformer_sim_search": ([], ("怎么开通花呗\n花呗怎么还款", None, "", 5, "bundled"), "the query is empty"),
    "/roformer_sim_search_submit": ([], ("怎么开通花呗\n花呗怎么还款", None, "🚀", 5, "bundled"), "reads Chinese"),
    "/math_solver_solve": ([], ("", 4), "the problem is empty"),
    "/math_solver_solve_submit": ([], ("小明有一些苹果，吃了一半，还剩几个？", 4), "no numbers"),
    "/xiangqi_click": ([], (STRONG,), "not a board point"),
    "/xiangqi_play": ([], ("a0a5", STRONG), "a0a5 is not a legal move for Red"),
    "/xiangqi_play_submit": ([], ("xyz", STRONG), "cannot read 'xyz' as a move"),
    "/xiangqi_new_game": ([], ("Green", STRONG), "not in the list of choices"),
    "/xiangqi_undo": ([], (), "Nothing to undo"),
    "/xiangqi_load_fen": ([], ("not a fen", "Red (moves first)", STRONG), "'not a fen' is not a FEN: it must start"),
    "/xiangqi_hint": ([], ("the strongest",), "not in the list of choices"),
    "/perturbed_masking_analyse": ([], ("", "bundled", 4, 1.0, "combined", WORDS), "Type a Chinese sentence"),
    "/perturbed_masking_analyse_submit": ([], ("I want to travel to Beijing", "bundled", 4, 1.0, "combined", WORDS),
                                          "reads Chinese"),
    "/perturbed_masking_example": ([], ("我" * 65, "bundled", 4, 1.0, "combined", WORDS), "takes at most 64"),
    "/perturbed_masking_resegment": (ANALYSED, ("bundled", 99, 1.0, "combined"), "greater than maximum"),
    "/perturbed_masking_threshold": (ANALYSED, ("bundled", 4, -1.0, "combined", WORDS), "less than minimum"),
    "/perturbed_masking_layer": (ANALYSED, ("bundled", -3, 1.0, "combined", WORDS), "less than minimum"),
    "/perturbed_masking_tree_words": (ANALYSED, ("bundled", 4, 1.0, "combined", "my spaces"),
                                      '"my spaces" parses the words you typed'),
    "/perturbed_masking_rule": (ANALYSED, ("bundled", 4, "loudest", WORDS), "not in the list of choices"),
    "/perturbed_masking_model": ([], ("bert-base-chinese",), "needs network"),
    "/vae_score_drawing": ([], (EMPTY_SKETCH, 100), "The sketchpad is empty"),
    "/vae_score_image": ([], (None, 100), "No picture yet"),
}
NOTHING_TO_REJECT = {
    "/xiangqi_flip": "turns the session's board around: no input",
    "/vae_show_example": "shows the upload tab after an example is clicked: no input",
    "/vae_samples": "draws new samples from the model: no input",
    "/draw_samples": "the samples shown when the page opens: no input",
}


@pytest.fixture(scope="module")
def endpoints(app_url) -> set[str]:
    return set(Client(app_url, verbose=False).view_api(return_format="dict", print_info=False)["named_endpoints"])


def test_every_endpoint_is_covered(endpoints):
    assert endpoints == set(REJECTIONS) | set(NOTHING_TO_REJECT)


def test_the_log_tells_rejections_from_failures():
    rejected = 'Traceback (most recent call last):\n  File "x.py"\ngradio.exceptions.Error: "Value: 5 is not in the list"\n'
    crashed = 'Traceback (most recent call last):\n  File "x.py"\nZeroDivisionError: division by zero\n'
    assert unexpected_tracebacks(rejected) == [] and len(unexpected_tracebacks(rejected + crashed)) == 1


@pytest.mark.parametrize("endpoint", sorted(REJECTIONS))
def test_a_rejected_input_reaches_the_caller(app_url, endpoint):
    client = Client(app_url, verbose=False)  # a session of its own
    setup, args, message = REJECTIONS[endpoint]
    for name, setup_args in setup:
        client.predict(*setup_args, api_name=name)
    with pytest.raises(AppError, match=message):
        client.predict(*args, api_name=endpoint)
