"""Does candidate-conditioned attention over facets hold on real text? (lesson 04, not graded)

Data: ``synthetic-persona-chat`` (Jandaghi et al., 2023; CC BY 4.0; ``datasets/
synthetic-persona-chat.md``). Each speaker of a conversation has 4-5 persona sentences, the
*facets* of one person. Task: pick the speaker's true utterance out of 20 candidates (the
others are utterances of speakers in other conversations), from the facets alone. Texts are
TF-IDF vectors (scikit-learn, fitted on the validation file), so a score is a cosine:

* ``mean``: one profile vector, the mean of the facets (the single-vector user);
* ``attention``: ``sum_k softmax_k(cos(f_k, c) / T) cos(f_k, c)``, the facets weighted by the
  candidate ``c`` (AMP-CF's attention, with facets in place of learned personas);
* ``max``: the best facet, ``max_k cos(f_k, c)``.

The temperature T is chosen on the validation file and reported on the test file. The
explanation of a candidate is the facet with the top weight. Nothing is trained on the test
file; ties (many utterances share no word with any facet) count at their expected rank.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
from scipy.special import softmax

from .checks import twin

__all__ = ["FILES", "load_speakers", "candidate_scores", "persona_chat", "persona_chat_or_skip"]

FILES = {"valid": "Synthetic-Persona-Chat_valid.csv", "test": "Synthetic-Persona-Chat_test.csv"}
_TURN = re.compile(r"^[\s*]*User ([12])[\s*]*:[\s*]*(.+)$")
_GRID = (0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def load_speakers(path: Path) -> tuple[list[list[str]], list[str], np.ndarray]:
    """Speakers' facets and utterances from one file.

    Returns:
        ``facets``: one list of persona sentences per speaker (two speakers per conversation);
        ``utterances``: every turn's text; ``speaker``: (n_utterances,) its speaker's index.
    """
    facets, utterances, speaker = [], [], []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            base = len(facets)
            for who in ("1", "2"):
                facets.append([s.strip() for s in row[f"user {who} personas"].split("\n") if s.strip()])
            for line in row["Best Generated Conversation"].split("\n"):
                turn = _TURN.match(line)
                if turn:
                    utterances.append(turn.group(2).strip())
                    speaker.append(base + int(turn.group(1)) - 1)
    return facets, utterances, np.array(speaker)


def _vectors(vectorizer, facets, utterances):
    """TF-IDF rows of every facet and utterance, and (n_speakers, F) facet row ids (-1 = none)."""
    lengths = np.array([len(f) for f in facets])
    index = np.cumsum(lengths)[:, None] - lengths[:, None] + np.arange(lengths.max())[None, :]
    index[np.arange(lengths.max())[None, :] >= lengths[:, None]] = -1
    return vectorizer.transform([s for f in facets for s in f]), index, vectorizer.transform(utterances)


@twin   # the attention of lesson 04's Exercise 1, over facets: refused inside checking()
def candidate_scores(facet_sim: np.ndarray, present: np.ndarray, temperature: float) -> dict:
    """Scores of candidates from facet cosines (Q, F, C) with facet mask (Q, F): each (Q, C);
    ``"weights"`` (Q, F, C) is the softmax over facets of cosine / T (absent facets get 0)."""
    sim = np.where(present[:, :, None], facet_sim, -np.inf)
    weights = softmax(sim / temperature, axis=1)
    mean = np.where(present[:, :, None], facet_sim, 0).sum(1) / present.sum(1)[:, None]
    return {"mean": mean, "attention": (weights * np.nan_to_num(sim, neginf=0.0)).sum(axis=1),
            "max": sim.max(axis=1), "weights": weights}


def _queries(speaker: np.ndarray, n_queries: int, n_candidates: int, rng) -> np.ndarray:
    """(Q, C) utterance ids: the true one first, then others from other speakers' pools."""
    true = rng.choice(speaker.size, size=min(n_queries, speaker.size), replace=False)
    other = rng.integers(0, speaker.size, size=(true.size, n_candidates - 1))
    clash = speaker[other] // 2 == speaker[true][:, None] // 2     # same conversation
    while clash.any():
        other[clash] = rng.integers(0, speaker.size, size=int(clash.sum()))
        clash = speaker[other] // 2 == speaker[true][:, None] // 2
    return np.column_stack([true, other])


def _evaluate(split, vectorizer, n_queries, n_candidates, rng, temperatures) -> dict:
    facets, utterances, speaker = split
    F, index, U = _vectors(vectorizer, facets, utterances)
    cand = _queries(speaker, n_queries, n_candidates, rng)
    who = speaker[cand[:, 0]]
    rows = index[who]                                                  # (Q, width)
    present = rows >= 0
    a, b = np.broadcast_arrays(np.where(present, rows, 0)[:, :, None], cand[:, None, :])
    facet_sim = np.asarray(F[a.ravel()].multiply(U[b.ravel()]).sum(axis=1)).reshape(a.shape)
    out = {}
    for T in temperatures:
        scores = candidate_scores(facet_sim, present, T)
        res = {}
        for name in ("mean", "attention", "max"):
            s = scores[name]
            greater = (s[:, 1:] > s[:, :1]).sum(1)
            ties = (s[:, 1:] == s[:, :1]).sum(1)
            # expected accuracy when ties are broken at random: first place, shared by the ties
            res[name] = float(np.mean((greater == 0) / (ties + 1)))
        out[T] = (res, scores["weights"][:, :, 0], facet_sim[:, :, 0], rows, cand)
    return out


def persona_chat(seed: int = 0, n_queries: int = 2000, n_candidates: int = 20,
                 examples: int = 3) -> dict:
    """Accuracy of picking the true utterance among ``n_candidates`` (chance 1/20).

    Returns:
        ``{"accuracy": {"mean", "attention", "max"}, "temperature", "chance", "queries",
        "examples": [{"utterance", "facet", "weight"}]}``. Raises ``DatasetUnavailable``
        when the data cannot be had.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    from .datasets import fetch

    paths = fetch("synthetic-persona-chat")
    valid, test = (load_speakers(paths[FILES[s]]) for s in ("valid", "test"))
    vectorizer = TfidfVectorizer(stop_words="english", sublinear_tf=True)
    vectorizer.fit([s for f in valid[0] for s in f] + valid[1])
    rng = np.random.default_rng(seed)
    tuned = _evaluate(valid, vectorizer, n_queries, n_candidates, rng, _GRID)
    best = max(_GRID, key=lambda T: tuned[T][0]["attention"])
    (acc, weights, true_sim, rows, cand), = _evaluate(test, vectorizer, n_queries, n_candidates, rng,
                                            (best,)).values()
    facets, utterances, _ = test
    flat = [s for f in facets for s in f]
    # the first queries (in random order) whose true utterance shares a word with a facet
    shown = np.flatnonzero(true_sim.max(axis=1) > 0)[:examples]
    return {"accuracy": acc, "temperature": best, "chance": 1 / n_candidates,
            "queries": int(len(cand)),
            "examples": [{"utterance": utterances[cand[q, 0]],
                          "facet": flat[rows[q, weights[q].argmax()]],
                          "weight": round(float(weights[q].max()), 3)} for q in shown]}


def persona_chat_or_skip(seed: int = 0) -> dict:
    """:func:`persona_chat`, or ``{"skipped": reason}`` when the data is unavailable."""
    from .datasets import DatasetUnavailable

    try:
        return persona_chat(seed)
    except DatasetUnavailable as err:
        return {"skipped": str(err)}
