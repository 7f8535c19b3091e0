"""Trees over words from a word-level impact matrix ``D[i, j] = f(e_i, e_j)``.

* ``split_tree``: Su's top-down constituency split (bojone/perturbed_masking:syntax_parsing.py).
* ``dependency_heads``: the paper's dependency decoding, Eisner over head scores in which the
  head of word i is favoured by the impact of that word on i (row-normalised), and ROOT
  by how much a word moves all the others.
* ``chain_heads``: the left- and right-chain baselines.

Heads are 1-based with 0 = ROOT, as in CoNLL-U.
"""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

Tree = Union[str, list]  # a word, or a list of subtrees


def split_point(matrix: np.ndarray) -> int:
    """k in [1, n−2] maximising within-block minus cross-block mean impact (diagonal included)."""
    n = len(matrix)
    scores = [
        matrix[:k, :k].mean() + matrix[k:, k:].mean() - matrix[:k, k:].mean() - matrix[k:, :k].mean()
        for k in range(1, n - 1)
    ]
    return 1 + int(np.argmax(scores))


def split_tree(words: Sequence[str], matrix: np.ndarray) -> Tree:
    """Su's recursion: ``[tree(words[:k]), [words[k], tree(words[k+1:])]]``; 1 word → [w], 2 → [w0, [w1]]."""
    words = list(words)
    if matrix.shape != (len(words), len(words)):
        raise ValueError(f"matrix shape {matrix.shape} does not match {len(words)} words")
    if len(words) == 0:
        raise ValueError("no words to build a tree over")
    if len(words) == 1:
        return [words[0]]
    if len(words) == 2:
        return [words[0], [words[1]]]
    k = split_point(matrix)
    left = split_tree(words[:k], matrix[:k, :k])
    rest = [words[k]] if k + 1 == len(words) else [words[k], split_tree(words[k + 1 :], matrix[k + 1 :, k + 1 :])]
    return [left, rest]


def bracketed(tree: Tree) -> str:
    """(大肠杆菌 (是 ...)) style text for a tree."""
    if isinstance(tree, str):
        return tree
    if len(tree) == 1:
        return bracketed(tree[0])
    return "(" + " ".join(bracketed(t) for t in tree) + ")"


def head_scores(matrix: np.ndarray) -> np.ndarray:
    """(n+1, n+1) log-scores ``S[h, d]`` of arc h → d (index 0 = ROOT).

    Word arcs: log of the row-normalised impact of h on d (the paper's row softmax over the
    candidate heads of d, with plain normalisation so a larger impact is a likelier head).
    ROOT arcs: log of each word's share of the total impact it has on the other words.
    """
    n = len(matrix)
    scores = np.full((n + 1, n + 1), -np.inf)
    if n == 1:
        scores[0, 1] = 0.0
        return scores
    impacts = np.clip(np.nan_to_num(matrix, nan=0.0), 0.0, None) + 1e-9
    np.fill_diagonal(impacts, 0.0)
    with np.errstate(divide="ignore"):
        scores[1:, 1:] = np.log(impacts / impacts.sum(axis=1, keepdims=True)).T  # [h, d] = share of h in d's row
        influence = impacts.sum(axis=0)  # column j: impact of j on everyone
        scores[0, 1:] = np.log(influence / influence.sum())
    return scores


def eisner(scores: np.ndarray) -> list[int]:
    """Best projective tree with a single ROOT child. ``scores[h, d]``, index 0 = ROOT.

    Returns heads for words 1..n (list of length n, values in 0..n).
    """
    n = len(scores) - 1
    if n < 1:
        raise ValueError("no words to parse")
    # complete[s][t][d] / incomplete[s][t][d] over words 1..n; d = 1: head at s (arcs go right), 0: head at t.
    size = n + 1
    complete = np.full((size, size, 2), -np.inf)
    incomplete = np.full((size, size, 2), -np.inf)
    back_c = np.zeros((size, size, 2), dtype=int)
    back_i = np.zeros((size, size, 2), dtype=int)
    for s in range(1, size):
        complete[s, s] = 0.0
    for length in range(1, n):
        for s in range(1, size - length):
            t = s + length
            joins = complete[s, s:t, 1] + complete[s + 1 : t + 1, t, 0]
            r = int(np.argmax(joins))
            incomplete[s, t, 0] = joins[r] + scores[t, s]
            incomplete[s, t, 1] = joins[r] + scores[s, t]
            back_i[s, t] = s + r
            left = complete[s, s:t, 0] + incomplete[s:t, t, 0]
            r = int(np.argmax(left))
            complete[s, t, 0], back_c[s, t, 0] = left[r], s + r
            right = incomplete[s, s + 1 : t + 1, 1] + complete[s + 1 : t + 1, t, 1]
            r = int(np.argmax(right))
            complete[s, t, 1], back_c[s, t, 1] = right[r], s + 1 + r
    # ROOT takes exactly one child r, which heads everything to its left and right.
    roots = [complete[1, r, 0] + complete[r, n, 1] + scores[0, r] for r in range(1, size)]
    root = 1 + int(np.argmax(roots))
    heads = [0] * size
    heads[root] = 0

    def walk_complete(s: int, t: int, d: int) -> None:
        if s == t:
            return
        r = back_c[s, t, d]
        if d == 0:
            walk_complete(s, r, 0)
            walk_incomplete(r, t, 0)
        else:
            walk_incomplete(s, r, 1)
            walk_complete(r, t, 1)

    def walk_incomplete(s: int, t: int, d: int) -> None:
        r = back_i[s, t, d]
        if d == 0:
            heads[s] = t
        else:
            heads[t] = s
        walk_complete(s, r, 1)
        walk_complete(r + 1, t, 0)

    walk_complete(1, root, 0)
    walk_complete(root, n, 1)
    return heads[1:]


def dependency_heads(matrix: np.ndarray, root: int | None = None) -> list[int]:
    """Eisner's tree over the impact matrix; ``root`` (1-based word) forces the ROOT's child, as the
    paper's evaluation does with the gold root (LividWo/Perturbed-Masking ``--root gold``)."""
    scores = head_scores(matrix)
    if root is not None:
        if not 1 <= root <= len(matrix):
            raise ValueError(f"root must be a word between 1 and {len(matrix)}, got {root}")
        forced = np.full(len(scores), -np.inf)
        forced[root] = 0.0
        scores[0] = forced
    return eisner(scores)


def chain_heads(n: int, direction: str, root: int | None = None) -> list[int]:
    """Right chain: each word depends on the one before it (first → ROOT); left chain: on the next.

    With a given ``root`` (1-based) the chain is kept except that the root attaches to ROOT and the
    word at the chain's end (the first word of a right chain, the last of a left one) to the root:
    the baseline that has the same gold information as ``dependency_heads(..., root)``.
    """
    if direction == "right":
        heads = [i for i in range(n)]  # word i+1 (1-based) → head i; word 1 → 0
    elif direction == "left":
        heads = [i + 2 for i in range(n - 1)] + [0]
    else:
        raise ValueError(f"direction must be 'left' or 'right', got {direction!r}")
    if root is not None:
        heads[heads.index(0)] = root
        heads[root - 1] = 0
    return heads


def is_tree(heads: Sequence[int]) -> bool:
    """One ROOT child and every word reaches ROOT without a cycle."""
    if sum(h == 0 for h in heads) != 1:
        return False
    for start in range(1, len(heads) + 1):
        seen, node = set(), start
        while node != 0:
            if node in seen:
                return False
            seen.add(node)
            node = heads[node - 1]
    return True


def is_projective(heads: Sequence[int]) -> bool:
    arcs = [(min(h, d), max(h, d)) for d, h in enumerate(heads, start=1)]
    return not any(a < c < b < e for a, b in arcs for c, e in arcs)
