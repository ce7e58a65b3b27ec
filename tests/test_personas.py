"""Lesson 04's library: the multi-persona facet of the town, the persona models, ranking metrics
with ties, persona matching, taste distance, and the real-data section's pieces."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone

from course import personas as P
from course import persona_chat
from course.datasets import DatasetUnavailable
from course.world import make_town
from course.world.personas import PersonaConfig, make_personas

rng = np.random.default_rng(4)


@pytest.fixture(scope="module")
def world():
    return make_personas(make_town(n_users=240, seed=5), seed=5, items_per_category=10,
                         n_clicks=30, n_test=5)


# ------------------------------------------------------------------------------ the facet

def test_facet_shapes_and_ground_truth(world):
    U, M = world.n_users, world.n_items
    assert world.clicks.shape == world.persona.shape == (U, 30) and M == 160
    assert world.item_features.shape == (M, 2 + world.config.n_style)
    assert world.train.shape == (U, 25) and world.test.shape == (U, 5)
    assert all(len(set(row)) == len(row) for row in world.clicks), "clicks are distinct items"
    owner = np.take_along_axis(world.owner, world.category[world.clicks], axis=1)
    np.testing.assert_array_equal(world.persona, owner)
    assert (world.persona < world.n_personas[:, None]).all(), "only present personas click"
    np.testing.assert_allclose(world.category_mix.sum(1), 1)
    np.testing.assert_array_equal(world.counts().sum(1), 25)


def test_facet_is_of_the_town_and_seeded(world):
    again = make_personas(make_town(n_users=240, seed=5), seed=5, items_per_category=10,
                          n_clicks=30, n_test=5)
    np.testing.assert_array_equal(world.clicks, again.clicks)
    town = world.town
    angle = 2 * np.pi * np.arange(town.config.n_topics) / town.config.n_topics
    np.testing.assert_allclose(world.home[:, 0], np.angle(town.topic_mix @ np.exp(1j * angle)))
    gap = np.abs(np.angle(np.exp(1j * (world.home[:, None, 0] - world.home[None, :, 0]))))
    same = town.community[:, None] == town.community[None, :]
    assert gap[same].mean() < 0.7 * gap[~same].mean(), "a community's first personas live close"


def test_persona_shares_and_single_taste():
    town = make_town(n_users=3000, seed=1)
    many = make_personas(town, items_per_category=4, n_clicks=10, n_test=2)
    share = np.bincount(many.n_personas, minlength=4)[1:] / 3000
    np.testing.assert_allclose(share, PersonaConfig().persona_shares, atol=0.03)
    flat = make_personas(town, single_taste=True, items_per_category=4, n_clicks=10, n_test=2)
    assert (flat.n_personas == 1).all() and (flat.persona == 0).all()
    assert np.isnan(flat.taste[:, 1:]).all()


def test_a_category_is_owned_by_the_nearest_home(world):
    G = len(world.category_names)
    angle = 2 * np.pi * np.arange(G) / G
    dist = np.abs(np.angle(np.exp(1j * (angle[None, None, :] - world.home[:, :, None]))))
    dist = np.where(np.isnan(dist), np.inf, dist)
    np.testing.assert_array_equal(world.owner, dist.argmin(axis=1))


@pytest.mark.parametrize("bad,match", [
    (dict(persona_shares=(0.5, 0.5, 0.5)), "persona_shares"),
    (dict(n_clicks=0), "n_clicks"), (dict(n_test=100), "n_test"), (dict(focus=-1), "focus")])
def test_facet_config_errors_name_the_argument(bad, match):
    with pytest.raises(ValueError, match=match):
        PersonaConfig(**bad)


# ------------------------------------------------------------------------------ attention

def test_attention_sums_to_one_and_depends_on_the_candidate():
    personas = np.array([[[1.0, 0.0], [0.0, 1.0]]])          # one user, two personas
    items = np.array([[3.0, 0.0], [0.0, 3.0], [1.0, 1.0]])
    a = P.persona_attention(personas, items)
    assert a.shape == (1, 3, 2)
    np.testing.assert_allclose(a.sum(axis=2), 1)
    assert a[0, 0, 0] > 0.9 and a[0, 1, 1] > 0.9, "each item calls on the persona it matches"
    np.testing.assert_allclose(a[0, 2], [0.5, 0.5])
    e = np.exp(3.0)
    np.testing.assert_allclose(P.amp_scores(personas, items)[0],
                               [3 * e / (e + 1), 3 * e / (e + 1), 1.0])


def test_attention_is_stable_and_temperature_sharpens():
    personas = rng.standard_normal((4, 3, 5)) * 400                    # logits in the thousands
    items = rng.standard_normal((7, 5))
    a = P.persona_attention(personas, items, temperature=0.5)
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a.sum(-1), 1)
    soft, sharp = (P.persona_attention(personas / 400, items, t).max(-1) for t in (10.0, 0.01))
    assert (sharp >= soft).all() and sharp.min() > 0.9


def test_one_persona_is_the_dot_product():
    u, v = rng.standard_normal((6, 1, 4)), rng.standard_normal((9, 4))
    np.testing.assert_allclose(P.persona_attention(u, v), 1)
    np.testing.assert_allclose(P.amp_scores(u, v), u[:, 0] @ v.T)


@pytest.mark.parametrize("t", [0, -1.0, float("nan")])
def test_attention_rejects_bad_temperature(t):
    with pytest.raises(ValueError, match="temperature"):
        P.persona_attention(np.ones((1, 2, 3)), np.ones((4, 3)), t)


# ------------------------------------------------------------------------------- metrics

def test_ndcg_and_hit_rate_on_hand_computed_rows():
    scores = np.array([[5.0, 1, 2, 3],        # target 0 first
                       [1.0, 4, 3, 2],        # target 0 last of four
                       [2.0, 2, 0, -np.inf],  # target 0 tied with one: positions 1 or 2
                       [-1.0, 7, -np.inf, 9]])  # target 0 third; -inf is never ranked
    target = np.array([0, 0, 0, 0])
    np.testing.assert_allclose(P.ndcg_at_k(scores, target, 10),
                               [1, 1 / np.log2(5), (1 + 1 / np.log2(3)) / 2, 0.5])
    np.testing.assert_allclose(P.ndcg_at_k(scores, target, 2), [1, 0, (1 + 1 / np.log2(3)) / 2, 0])
    np.testing.assert_allclose(P.hit_rate_at_k(scores, target, 1), [1, 0, 0.5, 0])


def test_a_constant_scorer_gets_chance_not_a_perfect_score():
    flat = np.zeros((3, 40))                         # every item tied, more than 16 per row
    want = sum(1 / np.log2(p + 1) for p in range(1, 11)) / 40
    np.testing.assert_allclose(P.ndcg_at_k(flat, np.array([0, 17, 39])), want)
    np.testing.assert_allclose(P.hit_rate_at_k(flat, np.array([5, 6, 7])), 10 / 40)


@pytest.mark.parametrize("scores,target,match", [
    (np.zeros((2, 5)), np.array([0, 5]), "target"),
    (np.array([[-np.inf, 0.0]]), np.array([0]), "finite"),
    (np.zeros((2, 5)), np.array([0]), "target")])
def test_ndcg_rejects_bad_input(scores, target, match):
    with pytest.raises(ValueError, match=match):
        P.ndcg_at_k(scores, target)


def test_match_personas_agrees_with_the_hungarian_algorithm():
    counts = rng.integers(0, 6, size=(200, 3, 3)).astype(float)
    counts[:20, :, 2] = 0                                     # users with two true personas
    match = P.match_personas(counts)
    assert match.shape == (200, 3)
    assert (np.sort(match, axis=1) == np.arange(3)).all(), "a permutation per user"
    got = np.take_along_axis(counts, match[:, :, None], axis=2).sum(axis=(1, 2))
    for u in range(200):
        r, c = linear_sum_assignment(counts[u], maximize=True)
        assert got[u] == counts[u, r, c].sum()
    with pytest.raises(ValueError, match="counts"):
        P.match_personas(np.ones((2, 3, 2)))


def test_taste_distance_hand_cases():
    history = np.array([[0, 0, 1, 1], [0, 0, 0, 0], [2, 2, 2, 1]])
    recommended = np.array([[1, 0], [3, 3], [2, 1]])
    np.testing.assert_allclose(P.taste_distance(history, recommended, 4), [0, 1, 0.25])
    with pytest.raises(ValueError, match="history"):
        P.taste_distance(np.array([[4]]), recommended[:1], 4)


# -------------------------------------------------------------------------------- models

def test_amp_with_one_persona_is_the_single_vector_model(world):
    X = world.counts()
    single = P.PersonaRecommender("single", n_dims=4, epochs=15).fit(X)
    amp = P.PersonaRecommender("amp", n_dims=4, n_personas=1, epochs=15).fit(X)
    np.testing.assert_allclose(amp.decision_function(), single.decision_function(), atol=1e-5)


def test_model_shapes_and_attention_matches_the_numpy_formula(world):
    X = world.counts()
    model = P.PersonaRecommender("amp", n_dims=4, n_personas=3, temperature=0.7, epochs=5).fit(X)
    users = np.array([3, 0, 7])
    a = model.attention(users)
    assert a.shape == (3, world.n_items, 3) and model.decision_function(users).shape == (3, world.n_items)
    u, v = model.user_vectors()[users], model.item_vectors()
    np.testing.assert_allclose(a, P.persona_attention(u, v, 0.7), atol=1e-5)
    bias = model.net_.bias.detach().numpy()
    np.testing.assert_allclose(model.decision_function(users), P.amp_scores(u, v, 0.7) + bias, atol=1e-4)
    top = model.predict(users, k=5, exclude=X[users])
    assert top.shape == (3, 5) and not X[users[:, None], top].any(), "seen items are excluded"
    hard = P.PersonaRecommender("max", n_dims=4, epochs=2).fit(X).attention(users)
    assert set(np.unique(hard)) <= {0.0, 1.0} and (hard.sum(-1) == 1).all()
    assert clone(model).get_params()["temperature"] == 0.7


@pytest.mark.parametrize("params,match", [
    (dict(model="svd"), "model"), (dict(n_personas=0), "n_personas"),
    (dict(temperature=0.0), "temperature"), (dict(temperature=-2.0), "temperature"),
    (dict(n_dims=2.5), "n_dims")])
def test_bad_parameters_raise_naming_the_argument(params, match):
    with pytest.raises(ValueError, match=match):
        P.PersonaRecommender(**params).fit(np.ones((3, 4)))


def test_bad_input_raises(world):
    model = P.PersonaRecommender("single", n_dims=2, epochs=1).fit(world.counts())
    for users in (np.array([world.n_users]), np.array([-1]), np.array([0.5])):
        with pytest.raises(ValueError, match="users"):
            model.decision_function(users)
    with pytest.raises(ValueError, match="X"):
        P.PersonaRecommender().fit(-np.ones((3, 4)))
    with pytest.raises(ValueError, match="unknown model"):
        P.fit_models(world, ["single", "svd"])


# ---------------------------------------------------------------------------- evaluation

def test_evaluation_ranks_the_whole_catalog_without_seen_items(world):
    noise = rng.standard_normal((world.n_users, world.n_items))
    plain = P.evaluate(noise, world)
    cheat = P.evaluate(noise + 100 * world.counts(), world)   # training items on top
    np.testing.assert_allclose(cheat["ndcg"], plain["ndcg"])  # ... are excluded anyway
    assert abs(plain["hr"].mean() - 10 / (world.n_items - 25)) < 0.02, "random ~ k / candidates"
    oracle = P.evaluate(world.log_prob(), world)
    assert oracle["ndcg"].mean() > plain["ndcg"].mean() + 0.1


def test_ndcg_parts_isolate_the_two_decisions(world):
    truth = world.log_prob()
    full = P.evaluate(truth, world)["ndcg"]
    parts = P.ndcg_parts(truth, world)
    np.testing.assert_allclose(parts["within"], full)
    np.testing.assert_allclose(parts["across"], full)
    # shuffle the order inside every category: "across" is untouched, "within" falls
    U, G = world.n_users, len(world.category_names)
    shuffled = rng.permuted(truth.reshape(U, G, -1), axis=2).reshape(U, -1)
    mixed = P.ndcg_parts(shuffled, world)
    np.testing.assert_allclose(mixed["across"], full)
    assert mixed["within"].mean() < full.mean() - 0.05


class _Oracle:
    """A stand-in model whose attention names the true persona of every item."""

    personas_ = 3

    def __init__(self, world, relabel):
        self.weights = np.eye(3)[relabel[world.owner[:, world.category]]]   # (U, M, 3)

    def attention(self, users=None):
        return self.weights


def test_explanations_are_faithful_up_to_relabelling_and_chance_is_the_base_rate(world):
    perfect = P.explanations(_Oracle(world, np.array([2, 0, 1])), world)
    assert perfect["faithfulness"] == 1.0
    multi = world.n_personas >= 2
    share = np.stack([(world.train_persona == j).mean(1) for j in range(3)], axis=1)[multi]
    want = np.take_along_axis(share, world.test_persona[multi], axis=1).mean()
    assert perfect["chance"] == pytest.approx(want)
    assert 0.3 < perfect["chance"] < 0.8 and perfect["majority"] >= perfect["chance"] - 0.05


class _Recommender(_Oracle):
    """The oracle's attention, recommending each user the first k items they did not click."""

    def attention(self, users=None):
        return self.weights if users is None else self.weights[users]

    def predict(self, users=None, k=10, exclude=None):
        return np.argsort(exclude, axis=1, kind="stable")[:, :k]


def test_recommendation_explanations_are_judged_by_the_category_owner(world):
    relabel = np.array([2, 0, 1])
    model = _Recommender(world, relabel)
    match = P.explanations(model, world)["match"]
    recs = P.recommendation_explanations(model, world, match, k=5)
    assert recs["items"].shape == recs["right"].shape == (world.n_users, 5)
    assert recs["faithfulness"] == 1.0 and 0.3 < recs["chance"] < 0.8
    user = int(np.flatnonzero(world.n_personas == 3)[0])
    lines = P.explain_recommendations(model, world, user, recs)
    assert len(lines) == 5 and all(line.endswith("(right)") for line in lines), lines
    wrong = dict(recs, named=(recs["named"] + 1) % 3)          # name another persona every time
    assert all("(wrong: " in line for line in P.explain_recommendations(model, world, user, wrong))


# ----------------------------------------------------------------------------- real data

CSV = '''user 1 personas,user 2 personas,Best Generated Conversation
"I love jazz.
I have a dog.","I play chess.
I bake bread.
I hike.","User 1: My dog loves jazz too.
(later)
* * User 2: * * I bake bread every sunday.
User 1: Nice."
'''


def test_speakers_are_parsed_with_facets_and_turns(tmp_path):
    path = tmp_path / "chat.csv"
    path.write_text(CSV, encoding="utf-8")
    facets, utterances, speaker = persona_chat.load_speakers(path)
    assert facets == [["I love jazz.", "I have a dog."], ["I play chess.", "I bake bread.", "I hike."]]
    assert utterances == ["My dog loves jazz too.", "I bake bread every sunday.", "Nice."]
    np.testing.assert_array_equal(speaker, [0, 1, 0])


def test_facet_scores_mean_attention_and_max():
    sim = np.array([[[0.9, 0.0], [0.0, 0.3], [0.5, 0.5]]])   # 1 query, 3 facets, 2 candidates
    present = np.array([[True, True, False]])
    s = persona_chat.candidate_scores(sim, present, temperature=0.1)
    np.testing.assert_allclose(s["mean"], [[0.45, 0.15]])
    np.testing.assert_allclose(s["max"], [[0.9, 0.3]])
    np.testing.assert_allclose(s["weights"].sum(axis=1), 1)
    assert s["weights"][0, 2].max() == 0, "an absent facet gets no weight"
    assert s["attention"][0, 0] > s["mean"][0, 0]


def test_real_data_section_skips_with_a_reason(monkeypatch):
    def unavailable(*args, **kwargs):
        raise DatasetUnavailable("no mirror, no cache and no network")
    monkeypatch.setattr("course.datasets.fetch", unavailable)
    assert persona_chat.persona_chat_or_skip() == {"skipped": "no mirror, no cache and no network"}
