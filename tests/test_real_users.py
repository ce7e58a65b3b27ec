"""Lessons 01 and 02 on real users (course.stackexchange, course.rating_profiles and their
experiments in course.budget and course.nearmiss), on small made-up files in the real files'
formats: no mirror needed. The real data's own results are checked in test_reproduce.py and
test_claims.py."""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer

from course import budget, datasets, metrics, nearmiss, rating_profiles, stackexchange


def serve(tmp_path, monkeypatch, name: str, files: dict[str, bytes]) -> None:
    """Make ``name`` a registered dataset whose files sit in a local mirror."""
    mirror = tmp_path / "mirror" / name
    mirror.mkdir(parents=True, exist_ok=True)
    entries = []
    for file, content in files.items():
        (mirror / file).write_bytes(content)
        entries.append({"file": file, "bytes": len(content), "url": "file:///nowhere",
                        "sha256": hashlib.sha256(content).hexdigest()})
    registry = tmp_path / "registry.json"
    registry.write_text(json.dumps({name: {"license": "test", "files": entries}}))
    monkeypatch.setattr(datasets, "REGISTRY_PATH", registry)
    monkeypatch.setenv("COURSE_DATA_MIRROR", str(tmp_path / "mirror"))


# --- FilmTrust's format -----------------------------------------------------------------------

def ratings_file(seed: int = 0, n_users: int = 160, n_films: int = 80) -> np.ndarray:
    """user film rating rows: a popularity and a 2-d taste, rounded to FilmTrust's half stars."""
    rng = np.random.default_rng(seed)
    taste, film = rng.normal(size=(n_users, 2)), rng.normal(size=(n_films, 2))
    rows = []
    for u in range(n_users):
        seen = rng.choice(n_films, size=rng.integers(12, 45), replace=False)
        score = 2.5 + 0.6 * film[seen, 0] + taste[u] @ film[seen].T + 0.3 * rng.normal(size=seen.size)
        rows += [(u + 1, f + 1, r) for f, r in zip(seen, np.clip(np.round(score * 2) / 2, 0.5, 4.0))]
    return np.array(rows)


def write_ratings(rows: np.ndarray) -> bytes:
    return "".join(f"{int(u)} {int(f)} {r:g}\n" for u, f, r in rows).encode()


@pytest.fixture
def films(tmp_path, monkeypatch):
    rows = ratings_file()
    serve(tmp_path, monkeypatch, "filmtrust", {"ratings.txt": write_ratings(rows)})
    return rows


def test_rating_questions_are_the_users_own_held_out_pairs(films):
    data = rating_profiles.load_rating_profiles(seed=3)
    U, M = data.y.shape
    assert U > 50 and M == rating_profiles.N_QUERIES
    assert set(data.user_ids) <= set(films[:, 0].astype(int))
    # each question's two films are held-out films of its user, rated differently, y says which higher
    rating = {(int(u), int(f)): r for u, f, r in films}
    film_ids = np.unique(films[:, 1]).astype(int)
    feats = data.film_features
    for i in range(0, U, 7):
        held = data.held_out[i]
        first = [int(np.flatnonzero((np.abs(feats[held] - (q + d / 2)) < 1e-4).all(1))[0])
                 for q, d in zip(data.query[i, :, 1:], data.diff[i])]
        second = [int(np.flatnonzero((np.abs(feats[held] - (q - d / 2)) < 1e-4).all(1))[0])
                  for q, d in zip(data.query[i, :, 1:], data.diff[i])]
        user = int(data.user_ids[i])
        r1 = [rating[(user, film_ids[held[j]])] for j in first]
        r2 = [rating[(user, film_ids[held[j]])] for j in second]
        assert all(a != b for a, b in zip(r1, r2)), "a question must ask about two different ratings"
        np.testing.assert_array_equal(data.y[i], np.greater(r1, r2).astype(int))
    assert 0.3 < data.y.mean() < 0.7, "which film comes first is a coin flip"


def test_no_profile_shows_the_films_its_reader_is_asked_about(films):
    data = rating_profiles.load_rating_profiles(seed=1)
    rng = np.random.default_rng(0)
    owners, users = rng.integers(0, data.n_users, 300), rng.integers(0, data.n_users, 300)
    owners[:10] = -1
    items = data.profiles(owners, users)
    assert items.shape == (300, rating_profiles.K, data.layout.item_dim)
    assert not items[:10].any(), "owner -1 is no profile at all"
    shown = items[..., 2:2 + rating_profiles.N_DIMS]                           # (B, K, D)
    asked = data.film_features[data.held_out[users]]                            # (B, 8, D)
    same = (np.abs(shown[:, :, None] - asked[:, None]) < 1e-6).all(-1) & (items[..., 0] > 0)[..., None]
    assert not same.any(), "a profile showed a film its reader is asked about"
    full = data.profiles(owners[10:], owners[10:])                              # own profiles
    assert (full[..., 0].sum(1) == np.minimum(rating_profiles.K, data.rated[owners[10:]].sum(1))).all(), \
        "an own profile shows min(K, history) films"


def test_held_out_ratings_never_reach_the_features_or_the_views(films, tmp_path, monkeypatch):
    data = rating_profiles.load_rating_profiles(seed=2)
    film_ids = np.unique(films[:, 1]).astype(int)
    held = {(int(u), int(film_ids[f])) for u, fs in zip(data.user_ids, data.held_out) for f in fs}
    changed = films.copy()
    for row in changed:
        if (int(row[0]), int(row[1])) in held:
            row[2] = 4.5 - row[2]                                               # every held-out rating flipped
    serve(tmp_path / "changed", monkeypatch, "filmtrust", {"ratings.txt": write_ratings(changed)})
    again = rating_profiles.load_rating_profiles(seed=2)
    np.testing.assert_allclose(again.film_features, data.film_features, atol=1e-5)
    both = np.intersect1d(data.user_ids, again.user_ids)
    a, b = np.searchsorted(data.user_ids, both), np.searchsorted(again.user_ids, both)
    np.testing.assert_array_equal(again.rated[b], data.rated[a])
    np.testing.assert_allclose(again.centred[b], data.centred[a], atol=1e-6)
    np.testing.assert_allclose(again.items[b], data.items[a], atol=1e-5)
    with pytest.raises(ValueError, match="similarity must be one of"):
        data.similarity_view("inputs")


@pytest.mark.slow  # trains six small readers (~5 s)
def test_the_near_miss_experiment_runs_on_ratings(films):
    real = nearmiss.real_users(seed=0)
    assert real["buckets"][:2] == ["self", "1"] and len(real["accuracy"]) == len(real["buckets"])
    assert real["epochs"] in nearmiss.EPOCH_GRID and real["town_epochs"]["epochs"] == nearmiss.EPOCHS
    assert set(real["trust"]) == {"self", "1", "random"}
    for gap in (real["gap_near_minus_random"], real["gap_own_minus_none"],
                real["similarity_on_ratings"]["gap_near_minus_random"]):
        assert gap["ci95"][0] <= gap["mean"] <= gap["ci95"][1]
    assert real["verdict"] == metrics.verdict(real["gap_near_minus_random"], -1)
    text = nearmiss.real_users_text(real, real)
    assert text.startswith("FilmTrust:") and text.splitlines()[-1].startswith("verdict: ")
    assert nearmiss.real_users_text({"skipped": "no data."}, real) == "Real-data section skipped: no data."


def test_verdicts_read_the_interval():
    assert metrics.verdict({"mean": -0.02, "ci95": [-0.03, -0.01]}, -1) == "held"
    assert metrics.verdict({"mean": -0.02, "ci95": [-0.03, -0.01]}, +1) == "reversed"
    assert metrics.verdict({"mean": 0.01, "ci95": [-0.01, 0.03]}, +1) == "did not"
    assert metrics.verdict({"mean": 0.02, "ci95": [0.01, 0.03]}, +1) == "held"
    with pytest.raises(ValueError, match="sign"):
        metrics.verdict({"mean": 0.0, "ci95": [0, 0]}, 0)


# --- Stack Exchange's format ------------------------------------------------------------------

MARKS = ["indeed", "verily", "frankly", "honestly", "basically", "literally", "truly", "clearly",
         "surely", "naturally", "obviously", "certainly", "actually", "really", "simply", "quite"]
TOPICS = ["hops", "yeast", "malt", "stout", "lager", "cider", "mead", "wine", "whiskey", "ale"]


def posts_file(seed: int = 0, n_questions: int = 90) -> bytes:
    """Posts.xml: each regular (users 1-16) writes with pet words of their own; each question
    is about a topic, and its answers are about that topic; a one-off answerer (1000+) too."""
    rng = np.random.default_rng(seed)
    rows, post, day = [], 1, 0
    for q in range(n_questions):
        topic = TOPICS[q % len(TOPICS)]
        asker = 200 + q
        rows.append(f'<row Id="{post}" PostTypeId="1" CreationDate="2015-01-{1 + q % 28:02d}T10:00:00.000" '
                    f'OwnerUserId="{asker}" Title="About {topic}?" Body="&lt;p&gt;What about {topic} '
                    f'and {rng.choice(TOPICS)}?&lt;/p&gt;" Tags="&lt;{topic}&gt;" />')
        question, post = post, post + 1
        authors = list(rng.choice(16, size=2, replace=False) + 1) + [1000 + q]
        for author in authors:
            day += 1
            pet = MARKS[author - 1] if author <= 16 else str(rng.choice(TOPICS))
            words = " ".join([pet, topic, pet, "is", "good", "and", pet, str(rng.choice(TOPICS))])
            rows.append(f'<row Id="{post}" PostTypeId="2" ParentId="{question}" '
                        f'CreationDate="2016-{1 + day % 12:02d}-{1 + day % 28:02d}T10:00:{day % 60:02d}.000" '
                        f'OwnerUserId="{author}" Body="&lt;p&gt;{words}&lt;/p&gt;" />')
            post += 1
    rows.append(f'<row Id="{post}" PostTypeId="5" CreationDate="2015-01-01T10:00:00.000" Body="wiki" />')
    return ('<?xml version="1.0" encoding="utf-8"?>\n<posts>\n' + "\n".join(rows) + "\n</posts>\n").encode()


@pytest.fixture
def posts(tmp_path, monkeypatch):
    serve(tmp_path, monkeypatch, "beer-stackexchange", {"Posts.xml": posts_file()})


def test_each_question_pairs_the_users_answer_with_another_to_the_same_question(posts):
    h = stackexchange.load_histories(seed=0)
    assert len(h.users) == 16 and len(h.y) > 100
    assert (h.question[h.own] == h.question[h.other]).all(), "both answers answer one question"
    assert (h.author[h.own] == h.user).all() and (h.author[h.other] != h.user).all()
    other_user = h.author[h.other]
    assert (h.half[other_user[other_user >= 0]] == h.half[h.user[other_user >= 0]]).all(), \
        "the other answer is never by a user of the other half"
    for n, items in enumerate(h.profile):
        assert h.own[n] not in items and (h.author[items] == h.user[n]).all()
        assert not (h.question[items] == h.question[h.own[n]]).any()


def test_profile_counts_are_the_counts_of_the_cut_texts(posts):
    h = stackexchange.load_histories(seed=1)
    counter, ngrams = stackexchange.word_ngrams(h)
    words = lambda p: list(h.vocabulary[h.words[p]])                        # noqa: E731
    for source, k in (("outputs", None), ("inputs", 2), ("both", 4), ("both", 64)):
        counts, shown = stackexchange.profile_counts(h, ngrams, source, k)
        cut = stackexchange.BUDGET // (k or 1)
        for n in (0, 5, 17):
            items = h.profile[n][:shown[n]]
            texts = []
            for a in items:
                q, ans = words(h.question[a]), words(h.answer[a])
                texts.append(" ".join({"inputs": q, "outputs": ans, "both": q + ans}[source][:cut]))
            want = counter.transform([" ".join(texts)]).toarray()[0]
            np.testing.assert_array_equal(counts[n].toarray()[0], want, err_msg=f"{source}, k={k}")
    none, shown = stackexchange.profile_counts(h, ngrams, "none")
    assert none.nnz == 0 and not shown.any()
    with pytest.raises(ValueError, match="source must be one of"):
        stackexchange.profile_counts(h, ngrams, "answers")


def test_the_reader_finds_writers_in_their_outputs_not_their_inputs(posts):
    real = budget.real_users(seed=0, ks=(1, 4))
    acc = real["accuracy"]
    assert acc["outputs"] >= acc["none"] + 0.2, f"pet words give each writer away: {acc}"
    assert acc["inputs"] <= acc["none"] + 0.1, f"the questions a user answered say nothing of them: {acc}"
    assert real["verdict"] == "held" == metrics.verdict(real["outputs_minus_inputs"], +1)
    assert real["budget_curve"]["k"] == [1, 4] and len(real["budget_curve"]["both"]) == 2
    text = budget.real_users_text(real, real["accuracy"])
    assert text.startswith("Beer Stack Exchange:") and text.splitlines()[-1].startswith("verdict: held")
