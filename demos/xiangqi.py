"""象棋 tab: play Chinese chess against the move GPT by clicking on the board or typing moves.

A click on the SVG board reaches Python through ``gr.HTML``'s ``js_on_load``: every board point
carries ``data-square``, and one delegated listener triggers the component's ``click`` event
with that square. Typed moves may be Chinese notation, WXF or ICCS (``core.xiangqi.notation``).
Beside the board, a bar shows who the model thinks is winning (``core.xiangqi.win_odds``); each
strength option carries its scores against fairy-stockfish from ``assets/xiangqi/metrics.json``.
All rules and session logic live in ``core.xiangqi.game``.
"""

from __future__ import annotations

import gradio as gr

from core import checkpoints, metrics
from core.xiangqi.board import BLACK, RED
from core.xiangqi.game import Game
from core.xiangqi.model import load
from core.xiangqi.player import Player
from core.xiangqi.svg import board_svg, odds_bar_svg
from core.xiangqi.win_odds import odds_from_log_likelihoods, win_odds
from demos.common import clear_error_marks, guarded, model_card_accordion, tab_intro, timed

STRENGTHS = {
    "Casual: sampled policy (temperature 1.0)": {"mode": "sample", "temperature": 1.0},
    "Policy: the model's first choice that does not repeat (greedy)": {"mode": "greedy"},
    "Strong: alpha-beta search, the GPT breaks ties (about 0.5 s a move)": {"mode": "search"},
}
DEFAULT_STRENGTH = "Strong: alpha-beta search, the GPT breaks ties (about 0.5 s a move)"
SIDES = {"Red (moves first)": RED, "Black": BLACK}

CLICK_JS = """
element.addEventListener('click', (event) => {
  const point = event.target.closest('[data-square]');
  if (point) trigger('click', {square: point.getAttribute('data-square')});
});
"""


INTRO = tab_intro("**Play Chinese chess against a GPT**: click one of your pieces, then a green dot, or type a move "
                  "(炮二平五, C2.5 or h2e2).", "xiangqi", "predict_validation_games300", "top1",
                  "It picks the master's move **{:.1%}** of the time in games it never saw; the strength menu has its "
                  "scores against fairy-stockfish.")

HOW_IT_WORKS = (
    "Click one of your pieces to see its legal moves (green dots), then click a target, or type the move as you "
    "would write it (炮二平五, 马8进7, C2.5 or h2e2). The bar left of the board is the model's own guess of the result "
    "(how likely the moves so far are under each result it was trained with: rough, but clear when one side is far "
    "ahead). "
    "The model only ever ranks legal moves (Su Jianlin, *当GPT遇上中国象棋*). "
    "The bundled GPT is small (2.5M parameters, 125 CPU-minutes of training on 25k master games, then 36 on those "
    "games plus tactical lessons from its own games) and sees the board as well as the moves. The other modes add to "
    "each move's score what it does to material at once (what it captures, leaves en prise or threatens, and checks), "
    "with four weights fitted to master moves: one ply of static consequences, no search. The strong mode is an "
    "alpha-beta search of 40,000 positions a move, whose evaluation (a value for each piece on each square) was fitted to "
    "the results of the master games; the GPT only chooses among the moves it values equally (its scores against "
    "fairy-stockfish are in the strength menu; see the model card). "
)


def _player(strength: str) -> Player:
    if strength not in STRENGTHS:
        raise ValueError(f"unknown strength {strength!r}")
    model, vocab = checkpoints.load("xiangqi", load)
    return Player(model, vocab, **STRENGTHS[strength])


def ladder_scores(entries: dict[str, dict], mode: str) -> str:
    """The ladder's measured scores of ``mode`` against fairy-stockfish, e.g. ``45% vs fairy-stockfish depth 1, 10% at depth 2``.

    ``entries`` are the metrics file's (``core.metrics.load``); empty when the ladder has not been recorded.
    """
    rows = sorted((e["raw"]["depth"], e["raw"]["score"]) for key, e in entries.items()
                  if key.startswith(f"ladder_{mode}_depth"))
    scores = [f"{score:.0%} {'vs fairy-stockfish depth' if i == 0 else 'at depth'} {depth}"
              for i, (depth, score) in enumerate(rows)]
    return ", ".join(scores)


def strength_choices() -> list[tuple[str, str]]:
    """(label, strength) for the dropdown: each label ends with the strength's measured scores, when recorded."""
    entries = metrics.load("xiangqi")
    labelled = []
    for strength, settings in STRENGTHS.items():
        scores = ladder_scores(entries, settings["mode"])
        labelled.append((f"{strength} · {scores}" if scores else strength, strength))
    return labelled


def _odds_bar(game: Game) -> str:
    model, vocab = checkpoints.load("xiangqi", load)
    odds = win_odds(model, vocab, game.board)
    return odds_bar_svg(odds.red, odds.draw, odds.black, game.flipped)


def _moves_markdown(game: Game) -> str:
    """Move pairs as a table: number, Red's move, Black's move (Chinese notation and ICCS)."""
    rows: dict[int, dict[str, str]] = {}
    for number, colour, chinese, iccs in game.move_list():
        rows.setdefault(number, {})[colour] = f"{chinese} `{iccs}`"
    if not rows:
        return "_No moves yet._"
    lines = ["| # | Red 红 | Black 黑 |", "|---|---|---|"]
    lines += [f"| {n} | {row.get(RED, '…')} | {row.get(BLACK, '')} |" for n, row in rows.items()]
    return "\n".join(lines)


def _status_markdown(game: Game, note: str = "") -> str:
    outcome = game.outcome()
    if outcome is not None:
        return f"## 🏁 Game over: {outcome.describe()}\n\nStart a new game, or undo to take moves back."
    text = f"**{game.status()}**"
    if game.last_choice is not None:
        *_, chinese, iccs = game.move_list()[-1]
        considered = ", ".join(f"{move} {p:.0%}" for move, p in game.last_choice.candidates)
        searched = "" if game.last_choice.depth is None else f", searching {game.last_choice.depth} plies deep"
        text += f" Model played **{chinese}** (`{iccs}`){searched}; its policy liked: {considered}."
    return text + (f"\n\n{note}" if note else "")


def _view(game: Game, note: str = "") -> tuple:
    return (game, board_svg(game.board, game.selected, game.flipped), _odds_bar(game), _status_markdown(game, note),
            _moves_markdown(game), game.board.fen())


def _model_replies(game: Game, player: Player) -> tuple:
    if not game.model_to_move:
        return _view(game)
    _, ms = timed(game.reply, player)
    return _view(game, f"Model answered in {ms:.0f} ms.")


# The player (and so the model) is loaded before the game changes: a missing model leaves it as it was.
# A rejected move or click is an error (a toast; the message for an API caller); the board, status, move list, FEN and
# game state keep their values and lose the error marks at once (``clear_error_marks``): every game event shares them.
@guarded
def on_click(game: Game | None, strength: str, evt: gr.EventData) -> tuple:
    game, player = game or Game(), _player(strength)
    square = evt._data.get("square") if isinstance(evt._data, dict) else None
    move = game.click(square)
    return _model_replies(game, player) if move else _view(game)


@guarded
def on_play(game: Game | None, move: str, strength: str) -> tuple:
    """A typed move: Chinese notation (炮二平五), WXF (C2.5) or ICCS (h2e2)."""
    game, player = game or Game(), _player(strength)
    game.play(move)
    return _model_replies(game, player)


@guarded
def on_new_game(side: str, strength: str) -> tuple:
    return _model_replies(Game(SIDES[side]), _player(strength))


@guarded
def on_undo(game: Game | None) -> tuple:
    game = game or Game()
    game.undo()
    return _view(game)


@guarded
def on_flip(game: Game | None) -> tuple:
    game = game or Game()
    game.flipped = not game.flipped
    return _view(game)


@guarded
def on_load_fen(fen: str, side: str, strength: str) -> tuple:
    return _model_replies(Game(SIDES[side], fen.strip()), _player(strength))


@guarded
def on_hint(game: Game | None, strength: str) -> str:
    game = game or Game()
    rows = game.hint(_player(strength))
    lines = ["| hint | ICCS | probability |", "|---|---|---|"]
    lines += [f"| {chinese} | `{iccs}` | {p:.1%} |" for chinese, iccs, p in rows]
    return "\n".join(lines)


def build() -> None:
    initial = Game()
    gr.Markdown(INTRO)
    model_card_accordion("xiangqi", HOW_IT_WORKS)
    game_state = gr.State(None)
    with gr.Row():
        with gr.Column(scale=3):
            with gr.Row(equal_height=False):
                with gr.Column(scale=0, min_width=60):  # as wide as the bar, the board takes the rest
                    even = odds_from_log_likelihoods(0.0, 0.0, 0.0)  # no move yet: no need to load the model
                    odds_bar = gr.HTML(odds_bar_svg(even.red, even.draw, even.black), elem_id="xiangqi-odds",
                                       js_on_load=None)
                with gr.Column(scale=1):
                    board = gr.HTML(board_svg(initial.board), js_on_load=CLICK_JS, elem_id="xiangqi-board")
            status = gr.Markdown(_status_markdown(initial), elem_id="xiangqi-status")
        with gr.Column(scale=2):
            side = gr.Radio(list(SIDES), value="Red (moves first)", label="You play", elem_id="xiangqi-side")
            choices = strength_choices()
            measured = any(label != value for label, value in choices)
            strength = gr.Dropdown(choices, value=DEFAULT_STRENGTH, label="Model strength", elem_id="xiangqi-strength",
                                   info="Scores against fairy-stockfish from `python -m core.xiangqi.evaluate ladder`"
                                   if measured else None)
            with gr.Row():
                new_game = gr.Button("New game", variant="primary", elem_id="xiangqi-new")
                undo = gr.Button("Undo", elem_id="xiangqi-undo")
                flip = gr.Button("Flip board", elem_id="xiangqi-flip")
                hint = gr.Button("Hint", elem_id="xiangqi-hint-button")
            hint_table = gr.Markdown(elem_id="xiangqi-hint")
            with gr.Row():
                move_box = gr.Textbox(label="Type a move", placeholder="炮二平五 · 马8进7 · C2.5 · h2e2",
                                      elem_id="xiangqi-move", scale=3)
                play = gr.Button("Play", elem_id="xiangqi-play", scale=1)
            moves = gr.Markdown(_moves_markdown(initial), elem_id="xiangqi-moves", max_height=320)
            with gr.Accordion("Position (FEN import / export)", open=False):
                fen = gr.Textbox(initial.board.fen(), label="FEN of the current position", elem_id="xiangqi-fen")
                load_fen = gr.Button("Load this FEN", elem_id="xiangqi-load-fen")

    view = [game_state, board, odds_bar, status, moves, fen]
    for event in (board.click(on_click, [game_state, strength], view, api_name="xiangqi_click"),
                  play.click(on_play, [game_state, move_box, strength], view, api_name="xiangqi_play"),
                  move_box.submit(on_play, [game_state, move_box, strength], view, api_name="xiangqi_play_submit"),
                  new_game.click(on_new_game, [side, strength], view, api_name="xiangqi_new_game"),
                  undo.click(on_undo, [game_state], view, api_name="xiangqi_undo"),
                  flip.click(on_flip, [game_state], view, api_name="xiangqi_flip"),
                  load_fen.click(on_load_fen, [fen, side, strength], view, api_name="xiangqi_load_fen")):
        clear_error_marks(event, view)
    hint.click(on_hint, [game_state, strength], hint_table, api_name="xiangqi_hint")
