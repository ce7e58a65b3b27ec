"""Beer Stack Exchange answerers as user histories: inputs, outputs and a context budget
(lesson 01, not graded).

Data: ``beer-stackexchange``, the posts of beer.stackexchange.com from 2014 to 2017 (CC BY-SA
3.0; ``datasets/beer-stackexchange.md``). One *interaction* of a user is an answer they
wrote: its **input** is the question it responds to (title and body), its **output** the
answer itself. Every choice below was fixed, with its reason, before any result was seen:

* **Who.** Answerers with at least ``MIN_ANSWERS`` (3) answers, so that an answer held out
  leaves a profile of at least two.
* **Two halves.** The users are split at random into two halves; a reader is trained on one
  half and tested on the other (then the halves swap).
* **The question**, pairwise as in the town: each answer of those users to a question that
  someone else answered too is held out in turn, beside another person's answer to the same
  question (one drawn at random); which of the two did the user write? The shared question
  fixes the topic, so only what is personal in the writing tells the two apart. Which one
  comes first is a coin flip. The other answer is never by a user of the other half: a
  reader trained on one half learns its users' writing as "the user's", and would then take
  their answers for the user's when they turn up as the other answer in a test question.
* **The profile**: the user's other answers (never one to the same question), the closest
  in time to the held-out answer first (an order of recency that early answers have too).
  An ``inputs`` item is the question answered, an ``outputs`` item the answer, a ``both``
  item the question then the answer (as LaMP's prompts put the input first).
* **The budget**: ``BUDGET`` (512) words, the input length of Wu et al.'s Flan-T5 counted in
  words. The source comparison fills it with whole items, as the town does (an item longer
  than the whole budget is cut to it); the budget curve asks for k items and cuts each one
  to ``BUDGET // k`` words, so a pair loses its answer first.
* **Text as counts**: HTML stripped, words split on white space and lower-cased, then
  character 2- to 4-grams inside words (:data:`NGRAMS`; the classic features of
  authorship). Because such n-grams never cross a word, a text's counts are the sum of its
  words' counts: each word is counted once, and a profile's counts are its items' counts
  added (:func:`profile_counts`).
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import scipy.sparse as sp

from .profiles import split_users

__all__ = ["MIN_ANSWERS", "BUDGET", "SOURCES", "NGRAMS", "Histories", "load_histories",
           "word_ngrams", "post_counts", "profile_counts"]

MIN_ANSWERS = 3
BUDGET = 512
SOURCES = ("none", "inputs", "outputs", "both")
#: character n-grams inside words (scikit-learn's "char_wb" analyzer)
NGRAMS = dict(analyzer="char_wb", ngram_range=(2, 4))
_TAG = re.compile(r"<[^>]+>")


@dataclass
class Histories:
    """Posts as word ids, the users' answers, and the pairwise questions.

    Shapes: P posts, A answers, U users, N questions, W distinct words.

    Attributes:
        words: P arrays of word ids, one per post (a question's title, then its body).
        vocabulary: (W,) the distinct lower-cased words.
        answer: (A,) post index of each answer; question: (A,) post index of its question.
        author: (A,) user index of the answer's author, -1 for authors who are not users.
        post_user: (P,) user index of each post's author, -1 for others.
        users: (U,) Stack Exchange ids of the users.
        half: (U,) 0 or 1, each user's half.
        own, other: (N,) answer indices: the user's held-out answer, the other user's.
        user: (N,) user index of the question's user.
        y: (N,) 1 when the user's answer is shown first.
        profile: N arrays of answer indices, the user's other answers, nearest in time first.
    """

    words: list[np.ndarray]
    vocabulary: np.ndarray
    answer: np.ndarray
    question: np.ndarray
    author: np.ndarray
    post_user: np.ndarray
    users: np.ndarray
    half: np.ndarray
    own: np.ndarray
    other: np.ndarray
    user: np.ndarray
    y: np.ndarray
    profile: list[np.ndarray]

    @property
    def first(self) -> np.ndarray:
        """(N,) answer index shown first."""
        return np.where(self.y == 1, self.own, self.other)

    @property
    def second(self) -> np.ndarray:
        return np.where(self.y == 1, self.other, self.own)

    def describe(self) -> dict:
        sizes = np.array([len(p) for p in self.profile])
        return {"posts": len(self.words), "answers": len(self.answer),
                "users": len(np.unique(self.user)), "questions": len(self.y),
                "profile_answers_median": float(np.median(sizes))}


def _text(row: dict) -> str:
    return html.unescape(_TAG.sub(" ", row.get("Title", "") + " " + row.get("Body", "")))


def load_histories(seed: int = 0) -> Histories:
    """The answerers' histories and questions (module docstring); ``seed`` draws the halves,
    the other answer of each question and the order of the two. Raises ``DatasetUnavailable``."""
    import xml.etree.ElementTree as ET

    from .datasets import fetch

    root = ET.parse(fetch("beer-stackexchange", ["Posts.xml"])["Posts.xml"]).getroot()
    rows = [r.attrib for r in root if r.get("PostTypeId") in ("1", "2")]
    index = {r["Id"]: i for i, r in enumerate(rows)}
    is_answer = np.array([r["PostTypeId"] == "2" and "OwnerUserId" in r
                          and r.get("ParentId") in index
                          and rows[index[r["ParentId"]]]["PostTypeId"] == "1" for r in rows])
    answer = np.flatnonzero(is_answer)
    question = np.array([index[rows[a]["ParentId"]] for a in answer], dtype=np.int64)
    owner = np.array([int(rows[a]["OwnerUserId"]) for a in answer])
    time = np.array([datetime.fromisoformat(rows[a]["CreationDate"]).timestamp() for a in answer])
    ids, per_owner = np.unique(owner, return_counts=True)
    users = ids[per_owner >= MIN_ANSWERS]
    author = np.where(np.isin(owner, users), np.searchsorted(users, owner), -1)
    post_owner = np.array([int(r.get("OwnerUserId", -1)) for r in rows])
    post_user = np.where(np.isin(post_owner, users), np.searchsorted(users, post_owner), -1)

    tokens = [_text(r).lower().split() for r in rows]
    vocabulary, flat = np.unique(np.concatenate([np.array(t, dtype=object) for t in tokens]),
                                 return_inverse=True)
    words = np.split(flat, np.cumsum([len(t) for t in tokens])[:-1])

    first_half, _ = split_users(len(users), 0.5, seed)
    half = np.where(np.isin(np.arange(len(users)), first_half), 0, 1)
    answer_half = np.where(author >= 0, half[np.maximum(author, 0)], -1)  # (A,) -1: not a user
    rng = np.random.default_rng(seed)
    own, other, profile = [], [], []
    for a in np.flatnonzero(author >= 0):               # data preparation, once per run
        rivals = np.flatnonzero((question == question[a]) & (owner != owner[a])
                                & ((author < 0) | (answer_half == answer_half[a])))
        if rivals.size == 0:
            continue
        mine = np.flatnonzero((author == author[a]) & (question != question[a]))
        own.append(a)
        other.append(rng.choice(rivals))
        profile.append(mine[np.argsort(np.abs(time[mine] - time[a]), kind="stable")])
    own = np.array(own)
    y = (rng.random(len(own)) < 0.5).astype(int)
    return Histories(words, vocabulary.astype(str), answer, question, author, post_user, users,
                     half, own, np.array(other), author[own], y, profile)


def word_ngrams(h: Histories):
    """The n-gram counter (fitted on the distinct words, no labels) and (W, V) counts of each
    distinct word."""
    from sklearn.feature_extraction.text import CountVectorizer

    counter = CountVectorizer(**NGRAMS)
    return counter, counter.fit_transform(h.vocabulary).tocsr()


def _word_counts(word_lists: list[np.ndarray], n_words: int, n_vocab: int) -> sp.csr_matrix:
    """(len(word_lists), W) counts of the words of each list, cut to its first ``n_words``."""
    cut = [w[:n_words] for w in word_lists]
    lengths = np.array([len(w) for w in cut], dtype=np.int64)
    rows = np.repeat(np.arange(len(cut)), lengths)
    cols = np.concatenate(cut) if len(cut) else np.zeros(0, np.int64)
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(cut), n_vocab))


def _item_words(h: Histories, answers: np.ndarray, source: str) -> list[np.ndarray]:
    """Word ids of the items of ``answers`` for ``source`` (a pair: question, then answer)."""
    if source == "inputs":
        return [h.words[q] for q in h.question[answers]]
    if source == "outputs":
        return [h.words[p] for p in h.answer[answers]]
    return [np.concatenate([h.words[q], h.words[p]])
            for q, p in zip(h.question[answers], h.answer[answers])]


def post_counts(h: Histories, ngrams: sp.csr_matrix) -> sp.csr_matrix:
    """(P, V) n-gram counts of every whole post."""
    return (_word_counts(h.words, len(h.vocabulary), len(h.vocabulary)) @ ngrams).tocsr()


def profile_counts(h: Histories, ngrams: sp.csr_matrix, source: str,
                   k: int | None = None) -> tuple[sp.csr_matrix, np.ndarray]:
    """Each question's profile as n-gram counts under the budget.

    Args:
        h: the histories; ngrams: (W, V) n-gram counts of each word.
        source: one of :data:`SOURCES` ("none" gives empty profiles).
        k: items asked for, each cut to ``BUDGET // k`` words; None fills the budget with
            whole items (at least one, cut to the budget if it alone is longer).

    Returns:
        ``counts`` (N, V) and ``shown`` (N,), the items each profile holds.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    N, V = len(h.y), ngrams.shape[1]
    if source == "none":
        return sp.csr_matrix((N, V)), np.zeros(N, int)
    used = np.unique(np.concatenate(h.profile))
    lengths = np.array([len(w) for w in _item_words(h, used, source)])
    length = dict(zip(used.tolist(), lengths.tolist()))
    per_item = BUDGET if k is None else BUDGET // k
    chosen = []
    for items in h.profile:                               # data preparation, once per source
        if k is not None:
            chosen.append(items[:k])
            continue
        total = np.cumsum([length[i] for i in items])
        chosen.append(items[:max(1, int((total <= BUDGET).sum()))])
    shown = np.array([len(c) for c in chosen])
    position = np.searchsorted(used, np.concatenate(chosen))
    select = sp.csr_matrix((np.ones(shown.sum()), (np.repeat(np.arange(N), shown), position)),
                           shape=(N, len(used)))
    items = _word_counts(_item_words(h, used, source), per_item, len(h.vocabulary))
    return (select @ items @ ngrams).tocsr(), shown
