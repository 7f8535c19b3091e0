"""The tree solver: a goal-driven tree decoder of the GTS class (Xie & Sun, IJCAI 2019), written from the paper.

A 2-layer bidirectional GRU reads the problem with placeholders (one token per character, ``N3`` one token). Each
number's embedding is the encoder state at its placeholder; constants that training equations use often (1, 2, 3.14,
100 …) have learned embeddings. The equation is written in prefix order as a tree: the root goal is the problem's
summary vector; each goal, with attention over the encoder, either picks an operator, which splits it into a left
goal and a right goal, or picks a leaf (a number or a constant). When a subtree is finished its embedding is merged
bottom up with its operator and left sibling, and a right goal is conditioned on its finished left sibling. The tree
is complete when no goal is open, so every output is a well-formed equation.

Decoding is batched over problems (and beams): the network runs once per step for all rows, while each row keeps its
own stacks of open goals and of finished subtrees (:class:`Partial`). Teacher-forced training uses the same stacks.
The written equation goes through the T5 solver's reading (placeholders, exact evaluation, plausibility, ranker).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import torch
from safetensors.torch import save_file
from torch import nn

from core import int8
from core.math_solver import expression, normalize, ranker
from core.math_solver.model import CharTokenizer
from core.math_solver.solution import BeamSolver, fitted_ranker

MODEL_TYPE = "gts_tree"
CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
OPERATORS = ("+", "-", "*", "/", "^")
MAX_SOURCE_TOKENS = 256
MAX_NODES = 41  # operators and leaves of one equation (the longest training equation has 39)
MIN_CONSTANT_COUNT = 5  # as GTS: a constant gets an embedding when training equations use it this often


@dataclass
class TreeConfig:
    vocab_size: int
    constants: tuple[str, ...]  # the learned constants, as the equations write them
    embedding: int = 128
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    model_type: str = MODEL_TYPE

    @property
    def outputs(self) -> int:
        """Output symbols: the operators, the constants, then one slot per placeholder N0 … N19."""
        return len(OPERATORS) + len(self.constants) + normalize.MAX_PLACEHOLDERS


# ---------------------------------------------------------------------------------------------
# Equations as prefix symbol sequences (pure functions: no model needed)


def constant_vocabulary(targets: list[str], min_count: int = MIN_CONSTANT_COUNT) -> tuple[str, ...]:
    """The constants that the training equations (placeholder infix) use at least ``min_count`` times, by value."""
    counts: Counter = Counter()
    for target in targets:
        try:
            counts.update(_constants(_plain(expression.parse(target))))
        except ValueError:  # an equation the model cannot write (a unary minus) teaches no constant
            continue
    return tuple(text for text, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if n >= min_count)


def _constants(node) -> list[str]:
    if node[0] == "num":
        return [expression.format_number(node[1])]
    if node[0] == "bin":
        return _constants(node[2]) + _constants(node[3])
    return []


def _plain(node):
    """The tree with only binary operators: ``x%`` becomes ``x/100``; a unary minus is refused."""
    if node[0] == "pct":
        return ("bin", "/", _plain(node[1]), ("num", Fraction(100), "100"))
    if node[0] == "neg":
        raise ValueError("a unary minus")
    if node[0] == "bin":
        return ("bin", node[1], _plain(node[2]), _plain(node[3]))
    return node


def to_prefix(target: str, constants: tuple[str, ...]) -> list[int]:
    """Output symbol ids of an equation with placeholders in prefix order; ``ValueError`` when it needs a symbol
    the model does not have."""
    leaf_base, number_base = len(OPERATORS), len(OPERATORS) + len(constants)
    index = {text: i for i, text in enumerate(constants)}
    symbols: list[int] = []

    def walk(node) -> None:
        if node[0] == "bin":
            symbols.append(OPERATORS.index(node[1]))
            walk(node[2])
            walk(node[3])
        elif node[0] == "ph":
            symbols.append(number_base + int(node[1][1:]))
        else:
            text = expression.format_number(node[1])
            if text not in index:
                raise ValueError(f"constant {text} is not in the model's vocabulary")
            symbols.append(leaf_base + index[text])

    walk(_plain(expression.parse(target)))
    return symbols


def from_prefix(symbols: list[int], constants: tuple[str, ...]) -> str:
    """The infix equation (placeholders, only the brackets it needs) of a complete prefix symbol sequence;
    ``ValueError`` when the sequence is not exactly one tree."""
    leaf_base, number_base = len(OPERATORS), len(OPERATORS) + len(constants)
    position = 0

    def build():
        nonlocal position
        if position >= len(symbols):
            raise ValueError("the prefix sequence ends before its tree is complete")
        symbol = symbols[position]
        position += 1
        if symbol < leaf_base:
            left = build()
            return ("bin", OPERATORS[symbol], left, build())
        if symbol < number_base:
            text = constants[symbol - leaf_base]
            return ("num", expression.evaluate(text), text)
        return ("ph", f"N{symbol - number_base}")

    tree = build()
    if position != len(symbols):
        raise ValueError("symbols left over after a complete tree")
    return expression.to_infix(tree)


# ---------------------------------------------------------------------------------------------
# The network


class Encoder(nn.Module):
    """Bidirectional GRU; the two directions' states are summed (as GTS does), and the problem vector is the sum of
    the forward state after the last token and the backward state after the first.

    Each direction is its own unidirectional GRU over right-padded rows, the backward one over each row reversed
    within its length: on the CPU that is 1.5-2x faster than ``nn.GRU`` over packed sequences (measured at one thread,
    the tree model's card), and the padding never reaches a real token's state."""

    def __init__(self, config: TreeConfig):
        super().__init__()
        self.embed = nn.Embedding(config.vocab_size, config.embedding, padding_idx=0)
        self.dropout = nn.Dropout(config.dropout)
        sizes = [config.embedding] + [2 * config.hidden] * (config.layers - 1)
        self.forward_layers = nn.ModuleList(nn.GRU(size, config.hidden, batch_first=True) for size in sizes)
        self.backward_layers = nn.ModuleList(nn.GRU(size, config.hidden, batch_first=True) for size in sizes)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(ids.shape[1], device=ids.device)[None, :]
        lengths = lengths.to(ids.device)[:, None]
        # position t of a row read backwards within its length (padding stays at the end)
        reverse = torch.where(positions < lengths, lengths - 1 - positions, positions)

        def flip(x: torch.Tensor) -> torch.Tensor:
            return x.gather(1, reverse[..., None].expand_as(x))

        x = self.embed(ids)
        for k, (ahead, back) in enumerate(zip(self.forward_layers, self.backward_layers)):
            x = self.dropout(x)
            forward_states, backward_states = ahead(x)[0], flip(back(flip(x))[0])
            x = torch.cat([forward_states, backward_states], -1)
        last = (lengths - 1)[..., None].expand(-1, 1, forward_states.shape[-1])
        problem = forward_states.gather(1, last).squeeze(1) + backward_states[:, 0]
        return forward_states + backward_states, problem


class GatedLayer(nn.Module):
    """tanh(W x) * sigmoid(W' x): GTS's gated feed-forward step, used for goals, children and merges."""

    def __init__(self, inputs: int, outputs: int):
        super().__init__()
        self.value, self.gate = nn.Linear(inputs, outputs), nn.Linear(inputs, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.value(x)) * torch.sigmoid(self.gate(x))


class AdditiveScore(nn.Module):
    """v · tanh(W_q q + W_k k) of a query against a set of keys; the key side is projected once per problem."""

    def __init__(self, query: int, key: int, hidden: int):
        super().__init__()
        self.query, self.key = nn.Linear(query, hidden), nn.Linear(key, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, query: torch.Tensor, projected_keys: torch.Tensor) -> torch.Tensor:
        return self.v(torch.tanh(projected_keys + self.query(query)[:, None, :])).squeeze(-1)


@dataclass
class Memory:
    """What every step reads of each problem (row ``p`` of each tensor is problem ``p`` of the batch)."""

    states: torch.Tensor  # [B, L, H] encoder states
    state_keys: torch.Tensor  # [B, L, H] the states projected for attention
    state_mask: torch.Tensor  # [B, L] real tokens
    leaves: torch.Tensor  # [B, C + 20, H] constant embeddings, then the number embeddings
    leaf_keys: torch.Tensor  # [B, C + 20, H] the leaves projected for scoring
    leaf_mask: torch.Tensor  # [B, C + 20] leaves the problem has
    roots: torch.Tensor  # [B, H] problem vectors, the root goals


@dataclass
class Partial:
    """One row's equation under construction: its stacks, written symbols and log-probability."""

    problem: int  # row of the Memory
    open_goals: list = field(default_factory=list)  # vectors of the goals still to decompose, next last
    subtrees: list = field(default_factory=list)  # (vector, finished): operators waiting for operands, finished subtrees
    left_sibling: torch.Tensor | None = None  # the finished subtree the next goal (a right child) is conditioned on
    symbols: list = field(default_factory=list)
    log_prob: float = 0.0

    @property
    def done(self) -> bool:
        return not self.open_goals

    def copy(self) -> "Partial":
        return Partial(self.problem, self.open_goals[:], self.subtrees[:], self.left_sibling, self.symbols[:], self.log_prob)


class TreeModel(nn.Module):
    def __init__(self, config: TreeConfig):
        super().__init__()
        self.config = config
        hidden, embedding = config.hidden, config.embedding
        self.encoder = Encoder(config)
        self.dropout = nn.Dropout(config.dropout)
        self.constants = nn.Parameter(torch.randn(len(config.constants), hidden) * 0.1)
        self.root_goal = GatedLayer(hidden, hidden)  # a goal with no left sibling (the root, any left child)
        self.right_goal = GatedLayer(2 * hidden, hidden)  # a right child, given its finished left sibling
        self.attention = AdditiveScore(hidden, hidden, hidden)
        self.operator_scores = nn.Linear(2 * hidden, len(OPERATORS))
        self.leaf_scores = AdditiveScore(2 * hidden, hidden, hidden)
        self.operator_embedding = nn.Embedding(len(OPERATORS), embedding)
        self.left_child = GatedLayer(2 * hidden + embedding, hidden)
        self.right_child = GatedLayer(2 * hidden + embedding, hidden)
        self.merge = GatedLayer(2 * hidden + embedding, hidden)

    def encode(self, ids: torch.Tensor, lengths: torch.Tensor, number_positions: torch.Tensor) -> Memory:
        """``number_positions`` [B, 20]: the token position of placeholder k, -1 when the problem has no Nk."""
        states, roots = self.encoder(ids, lengths)
        mask = torch.arange(ids.shape[1], device=ids.device)[None, :] < lengths[:, None].to(ids.device)
        numbers = states.gather(1, number_positions.clamp(min=0)[..., None].expand(-1, -1, states.shape[-1]))
        constants = self.constants[None].expand(ids.shape[0], -1, -1).to(numbers.dtype)
        leaves = torch.cat([constants, numbers], 1)
        leaf_mask = torch.cat([torch.ones(constants.shape[:2], dtype=torch.bool, device=ids.device), number_positions >= 0], 1)
        return Memory(states, self.attention.key(states), mask, leaves, self.leaf_scores.key(self.dropout(leaves)), leaf_mask, roots)

    def step(self, rows: list[Partial], memory: Memory) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(goal, context, log-probabilities over the output symbols) of each row's next goal; a finished row (teacher
        forcing keeps every row of the batch in step) gets a zero goal, and its outputs are ignored."""
        in_order = [row.problem for row in rows] == list(range(memory.roots.shape[0]))
        # rows in problem order read the memory as it is: indexing it would cost a gradient scatter per step
        pick = (lambda x: x) if in_order else (
            lambda x, index=torch.tensor([row.problem for row in rows], device=memory.roots.device): x[index])
        blank = memory.roots.new_zeros(memory.roots.shape[-1])
        pending = self.dropout(torch.stack([row.open_goals[-1] if row.open_goals else blank for row in rows]))
        has_left = torch.tensor([row.left_sibling is not None for row in rows], device=pending.device)
        goal = self.root_goal(pending)
        if has_left.any():
            left = torch.stack([blank if row.left_sibling is None else row.left_sibling for row in rows])
            goal = torch.where(has_left[:, None], self.right_goal(torch.cat([self.dropout(left), pending], -1)), goal)
        energy = self.attention(goal, pick(memory.state_keys)).masked_fill(~pick(memory.state_mask), -1e9)
        context = torch.bmm(energy.softmax(-1)[:, None, :], pick(memory.states)).squeeze(1)
        query = self.dropout(torch.cat([goal, context], -1))
        leaf_logits = self.leaf_scores(query, pick(memory.leaf_keys)).masked_fill(~pick(memory.leaf_mask), -1e9)
        operator_logits = self.operator_scores(query)
        # an operator opens a goal: forbidden where the equation could then not close within MAX_NODES symbols
        full = torch.tensor([len(row.symbols) + len(row.open_goals) + 1 >= MAX_NODES for row in rows], device=pending.device)
        operator_logits = operator_logits.masked_fill(full[:, None], -1e9)
        return goal, context, torch.cat([operator_logits, leaf_logits], -1).float().log_softmax(-1)

    def advance(self, rows: list[Partial], symbols: list[int], goal: torch.Tensor, context: torch.Tensor, memory: Memory) -> None:
        """Write ``symbols[i]`` into ``rows[i]`` (whose goal and context were ``goal[i]``, ``context[i]``): an operator
        opens its two child goals; a leaf closes subtrees bottom up as far as they are complete."""
        for row, symbol in zip(rows, symbols):
            row.open_goals.pop()
            row.symbols.append(symbol)
        operators = [i for i, s in enumerate(symbols) if s < len(OPERATORS)]
        if operators:
            index = torch.tensor(operators, device=goal.device)
            operator = self.operator_embedding(torch.tensor([symbols[i] for i in operators], device=goal.device))
            inputs = self.dropout(torch.cat([goal[index], context[index], operator.to(goal.dtype)], -1))
            # unbind, not indexing row by row: its gradient is one stack instead of a scatter per row
            for i, left, right, embedded in zip(operators, self.left_child(inputs).unbind(0), self.right_child(inputs).unbind(0),
                                                operator.unbind(0)):
                rows[i].open_goals += [right, left]  # the left goal is decomposed first
                rows[i].subtrees.append((embedded, False))
                rows[i].left_sibling = None
        leaves = [i for i, s in enumerate(symbols) if s >= len(OPERATORS)]
        if not leaves:
            return
        problems = torch.tensor([rows[i].problem for i in leaves], device=goal.device)
        slots = torch.tensor([symbols[i] - len(OPERATORS) for i in leaves], device=goal.device)
        finished = dict(zip(leaves, memory.leaves[problems, slots].unbind(0)))
        merging = [i for i in leaves if rows[i].subtrees and rows[i].subtrees[-1][1]]
        while merging:  # a finished right subtree closes its parent with the finished left one; repeat upwards
            operator = torch.stack([rows[i].subtrees[-2][0] for i in merging]).to(goal.dtype)
            left = torch.stack([rows[i].subtrees[-1][0] for i in merging])
            right = torch.stack([finished[i] for i in merging])
            merged = self.merge(self.dropout(torch.cat([operator, left, right], -1)))
            for i, vector in zip(merging, merged.unbind(0)):
                del rows[i].subtrees[-2:]
                finished[i] = vector
            merging = [i for i in merging if rows[i].subtrees and rows[i].subtrees[-1][1]]
        for i in leaves:
            rows[i].subtrees.append((finished[i], True))
            rows[i].left_sibling = finished[i]

    def loss(self, memory: Memory, targets: list[list[int]]) -> torch.Tensor:
        """Teacher forcing: mean negative log-likelihood per symbol of the target prefix sequences."""
        rows = [Partial(p, list(memory.roots.unbind(0))[p : p + 1]) for p in range(len(targets))]
        device = memory.roots.device
        total, count = 0.0, 0
        for t in range(max(map(len, targets))):
            live = [p for p in range(len(targets)) if t < len(targets[p])]
            goal, context, log_probs = self.step(rows, memory)
            gold = torch.tensor([targets[p][t] if t < len(targets[p]) else 0 for p in range(len(targets))], device=device)
            in_target = torch.tensor([t < len(target) for target in targets], device=device)
            total = total - log_probs.gather(1, gold[:, None]).squeeze(1).masked_fill(~in_target, 0).sum()
            count += len(live)
            index = torch.tensor(live, device=device)
            self.advance([rows[p] for p in live], gold[index].tolist(), goal[index], context[index], memory)
        return total / count

    @torch.no_grad()
    def beam_search(self, memory: Memory, beams: int) -> list[list[Partial]]:
        """The ``beams`` most probable complete equations of each problem, most probable first (by sequence
        log-probability): each step extends every open row, and per problem the best ``beams`` of the finished rows
        and the extensions are kept, until the kept rows are all finished."""
        kept = [[Partial(p, [memory.roots[p]])] for p in range(memory.roots.shape[0])]
        while any(not row.done for rows in kept for row in rows):
            live = [row for rows in kept for row in rows if not row.done]
            goal, context, log_probs = self.step(live, memory)
            totals = log_probs + torch.tensor([row.log_prob for row in live], device=log_probs.device)[:, None]
            by_problem: dict[int, list[int]] = {}
            for k, row in enumerate(live):
                by_problem.setdefault(row.problem, []).append(k)
            parents, symbols, new_rows = [], [], []
            for p, ks in by_problem.items():
                flat = totals[ks].flatten()
                values, places = flat.topk(min(beams, flat.numel()))
                options = [(v, ks[place // totals.shape[1]], place % totals.shape[1])
                           for v, place in zip(values.tolist(), places.tolist()) if v > -1e8]
                options += [(row.log_prob, None, row) for row in kept[p] if row.done]
                options.sort(key=lambda option: -option[0])
                kept[p] = []
                for value, k, what in options[:beams]:
                    if k is None:
                        kept[p].append(what)
                        continue
                    row = live[k].copy()
                    row.log_prob = value
                    kept[p].append(row)
                    parents.append(k)
                    symbols.append(what)
                    new_rows.append(row)
            index = torch.tensor(parents, device=goal.device)
            self.advance(new_rows, symbols, goal[index], context[index], memory)
        return kept


# ---------------------------------------------------------------------------------------------
# Inputs, saving and loading


def encode_sources(tokenizer: CharTokenizer, sources: list[str], device="cpu") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(ids [B, L], lengths [B], number positions [B, 20]) of placeholder problem texts."""
    number_ids = {tokenizer.ids[f"N{k}"]: k for k in range(normalize.MAX_PLACEHOLDERS)}
    encoded = [tokenizer.encode(source, MAX_SOURCE_TOKENS) for source in sources]
    ids = torch.zeros(len(encoded), max(map(len, encoded)), dtype=torch.long)
    positions = torch.full((len(encoded), normalize.MAX_PLACEHOLDERS), -1, dtype=torch.long)
    for row, seq in enumerate(encoded):
        ids[row, : len(seq)] = torch.tensor(seq)
        for position, token in enumerate(seq):
            if token in number_ids and positions[row, number_ids[token]] < 0:
                positions[row, number_ids[token]] = position
    lengths = torch.tensor([len(seq) for seq in encoded])
    return ids.to(device), lengths.to(device), positions.to(device)


PRECISIONS = ("fp32", "fp16", "int8")


def save(model: TreeModel, tokenizer: CharTokenizer, directory: Path | str, precision: str = "fp32") -> None:
    """Config, vocabulary and weights: fp32, fp16, or int8 rows with fp16 vectors (``core.int8``, for bundling)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}: use one of {', '.join(PRECISIONS)}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if precision == "fp32":
        save_file({name: t.detach().cpu().contiguous() for name, t in model.state_dict().items()}, str(directory / WEIGHTS_FILE))
    else:
        int8.write(model.state_dict(), directory / WEIGHTS_FILE, int8=precision == "int8")
    (directory / CONFIG_FILE).write_text(json.dumps(asdict(model.config), indent=1) + "\n", encoding="utf-8")
    tokenizer.save_pretrained(directory)


def is_tree_checkpoint(directory: Path | str) -> bool:
    config = Path(directory) / CONFIG_FILE
    return config.is_file() and json.loads(config.read_text(encoding="utf-8")).get("model_type") == MODEL_TYPE


def load_model(directory: Path | str) -> TreeModel:
    saved = json.loads((Path(directory) / CONFIG_FILE).read_text(encoding="utf-8"))
    model = TreeModel(TreeConfig(**{**saved, "constants": tuple(saved["constants"])}))
    model.load_state_dict(int8.read(Path(directory) / WEIGHTS_FILE))
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Solving


class TreeSolver(BeamSolver):
    default_beams = 5  # GTS's beam size

    @torch.inference_mode()
    def generate(self, sources: list[str], beams: int) -> list[list[tuple[str, float, float]]]:
        """The ``beams`` best equations (infix with placeholders, mean log-prob per symbol, sequence log-prob) per source."""
        memory = self.model.encode(*encode_sources(self.tokenizer, sources, self.device))
        constants = self.model.config.constants
        return [[(from_prefix(row.symbols, constants), row.log_prob / len(row.symbols), row.log_prob) for row in rows]
                for rows in self.model.beam_search(memory, beams)]


def load(directory: Path | str, device: torch.device | str = "cpu") -> TreeSolver:
    """The tree solver of a checkpoint directory, with its ``ranker.json`` when that was fitted to these weights."""
    model = load_model(directory)
    return TreeSolver(model, CharTokenizer.from_pretrained(directory), device, fitted_ranker(directory, model), Path(directory))
