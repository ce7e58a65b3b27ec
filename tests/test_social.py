"""Lesson 05's library: the social town, SPF and its baselines by CAVI, the ranking metrics,
and the SPF authors' folder layout (round trip, bad input, the CLI)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from conftest import ROOT
from course import ranking, social, socialdata, spf
from course.world import TownConfig, make_town
from course.world.social import (INFLUENCED, OWN, TEST, TRAIN, VALIDATION, SocialConfig,
                                 make_social, split_clicks)


@pytest.fixture(scope="module")
def small():
    """A small town: 400 users, 200 items, the lesson's other parameters."""
    return social.social_town(seed=3, n_users=400, n_items=200)


# ----------------------------------------------------------------------------- the generator

def test_town_has_both_origins_and_a_random_network(small):
    d = small.describe()
    assert d["users"] == 400 and d["items"] == 200
    assert 0.1 < d["influenced_share"] < 0.5, d
    assert 12 < d["friends_per_user"] < 22, d
    net = small.network
    assert (net != net.T).nnz == 0 and net.diagonal().sum() == 0
    # influence only runs along ties, and every influenced click names a friend as its source
    assert (abs(small.strength).sign() - net.multiply(small.strength != 0)).nnz == 0
    infl = small.origin == INFLUENCED
    assert np.all(np.asarray(net[small.user[infl], small.source[infl]]).ravel() == 1)
    assert np.all(small.source[~infl] == -1)
    # one click per user and item; own clicks never carry an influence label
    keys = small.user * small.n_items + small.item
    assert np.unique(keys).size == keys.size


def test_influenced_adoptions_follow_the_friend_in_time(small):
    infl = np.flatnonzero(small.origin == INFLUENCED)
    when = {(u, i): t for u, i, t in zip(small.user, small.item, small.time)}
    earlier = [when[(s, i)] < t for s, i, t in zip(small.source[infl], small.item[infl], small.time[infl])]
    assert all(earlier) and np.all(small.time <= 1.0)


def test_no_influence_means_no_influenced_clicks():
    st = social.social_town(seed=1, n_users=300, n_items=150, influence=0.0)
    assert (st.origin == INFLUENCED).sum() == 0 and not st.strength.data.any()


def test_homophily_makes_friends_alike():
    town = make_town(TownConfig(n_users=500, n_interactions=1, seed=2))
    def friend_similarity(h):
        st = make_social(town, SocialConfig(n_items=300, homophily=h, influence=0.0, seed=2))
        rates = st.own_rate / np.linalg.norm(st.own_rate, axis=1, keepdims=True)
        u, v = st.network.nonzero()
        return float(np.mean(np.sum(rates[u] * rates[v], axis=1)))
    assert friend_similarity(1.0) > friend_similarity(0.0) + 0.1


def test_split_shares_hold_per_user():
    rng = np.random.default_rng(0)
    user = np.repeat(np.arange(200), 40)
    part = split_clicks(user, (0.75, 0.05, 0.2), rng)
    assert abs((part == TEST).mean() - 0.2) < 0.01 and abs((part == VALIDATION).mean() - 0.05) < 0.01
    per_user = np.bincount(user, part == TEST)
    assert per_user.min() >= 7 and per_user.max() <= 9


def test_oracle_adds_friends_pull_to_own_rates(small):
    oracle = small.oracle_scores()
    assert oracle.shape == small.own_rate.shape and np.all(oracle >= small.own_rate - 1e-6)


@pytest.mark.parametrize("bad", [dict(influence=1.5), dict(homophily=-0.1), dict(n_items=0),
                                 dict(split=(0.5, 0.2, 0.2)), dict(delay=0)])
def test_config_rejects_bad_values(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SocialConfig(**bad)


# ----------------------------------------------------------------------------- the models

def test_cavi_raises_the_elbo_every_iteration(small):
    for model in ("spf", "pf"):
        fit = spf.fit_spf(small.train, small.network, small.validation, model=model,
                             a_tau=0.5, fixed_iter=25, track_elbo=True, progress=False)
        steps = np.diff(fit.elbo)
        assert np.all(steps >= -1e-6 * abs(fit.elbo[-1])), (model, steps.min())
        assert fit.elbo[-1] > fit.elbo[0]


def test_validation_likelihood_stops_and_sees_the_friends(small):
    fits = {m: spf.fit_spf(small.train, small.network, small.validation, model=m, a_tau=0.5,
                              max_iter=400, progress=False) for m in ("spf", "pf")}
    for fit in fits.values():
        assert 30 <= fit.iterations < 400 and fit.seconds_per_iteration > 0
        assert len(fit.validation_ll) == fit.iterations and np.all(np.isfinite(fit.validation_ll))
    # influenced clicks are held out too: the friends' part predicts them better than factors
    assert fits["spf"].validation_ll[-1] > fits["pf"].validation_ll[-1] + 0.02


def test_spf_finds_the_influential_ties(small):
    fit = spf.fit_spf(small.train, small.network, small.validation, model="spf", a_tau=0.5,
                         progress=False)
    learned = fit.tau.tocoo()
    true = np.asarray(small.strength[learned.row, learned.col]).ravel()
    strong = true >= np.quantile(true, 0.9)  # the tenth of ties that carry most influence
    assert np.corrcoef(learned.data, true)[0, 1] > 0.2
    assert learned.data[strong].mean() > 1.4 * learned.data[~strong].mean()


def test_scores_equal_the_dense_rate(small):
    fit = spf.fit_spf(small.train, small.network, small.validation, model="spf",
                         fixed_iter=5, progress=False)
    dense = fit.theta @ fit.beta.T + fit.tau.toarray() @ small.train.toarray()
    assert np.allclose(fit.scores(), dense)
    assert np.allclose(fit.scores(np.array([5, 2])), dense[[5, 2]])


def test_warm_start_and_look_alike(small):
    pf = spf.fit_spf(small.train, small.network, small.validation, model="pf", progress=False)
    look = spf.fit_spf(small.train, small.network, small.validation, model="pf", pull=3.0,
                          init=pf, progress=False)
    assert look.tau.nnz == 0 and look.pull == 3.0
    # the pull moves a user's preferences towards their friends' mean
    friends = sp.csr_matrix(small.network)
    mean = (sp.diags(1 / np.maximum(friends.sum(1).A1, 1)) @ friends) @ pf.theta
    gap = lambda theta: np.abs(np.log(theta + 1e-9) - np.log(mean + 1e-9)).mean()
    assert gap(look.theta) < gap(pf.theta)


def test_the_recipe_and_the_paper_start(small):
    common = dict(random_state=0, fixed_iter=4)
    pf = spf.fit_spf(small.train, small.network, small.validation, model="pf", n_factors=10,
                     progress=False, **common)
    warm = social.fit_method("spf", small.train, small.network, small.validation, start=pf, **common)
    assert [f.tau_prior for f in warm.tried] == list(social.TAU_PRIORS) and warm in warm.tried
    cold = social.fit_method("spf", small.train, small.network, small.validation, start=pf,
                             warm=False, tau_priors=(social.PAPER_TAU_PRIOR,), **common)
    paper = spf.fit_spf(small.train, small.network, small.validation, model="spf", n_factors=10,
                        progress=False, **common)      # the paper's prior, from random
    assert cold.tried == [cold] and cold.tau_prior == social.PAPER_TAU_PRIOR
    assert cold.validation_ll == paper.validation_ll, "warm=False ignores the start"
    assert warm.tried[0].validation_ll != paper.validation_ll
    with pytest.raises(ValueError, match="tau_priors"):
        social.fit_method("spf", small.train, small.network, small.validation, tau_priors=())


@pytest.mark.parametrize("kwargs,match", [
    (dict(model="nope"), "model"), (dict(n_factors=0), "n_factors"),
    (dict(model="spf", pull=1.0), "pull"), (dict(model="pf", pull=-1.0), "pull")])
def test_fit_rejects_bad_arguments(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        spf.fit_spf(small.train, small.network, small.validation, progress=False, **kwargs)


def test_fit_rejects_negative_counts_and_wrong_shapes(small):
    bad = small.train.copy()
    bad.data[0] = -1
    with pytest.raises(ValueError, match="non-negative"):
        spf.fit_spf(bad, small.network, progress=False)
    with pytest.raises(ValueError, match="network"):
        spf.fit_spf(small.train, sp.eye(10, format="csr"), progress=False)


# ----------------------------------------------------------------------------- small pieces

def test_social_rate_is_the_directed_sparse_product():
    rng = np.random.default_rng(1)
    tau = sp.random(30, 30, density=0.2, random_state=1, format="csr")
    clicks = sp.random(30, 50, density=0.1, random_state=2, format="csr")
    clicks.data = rng.integers(1, 4, clicks.nnz).astype(float)
    T, C = tau.toarray(), clicks.toarray()
    want = np.array([[sum(T[u, v] * C[v, i] for v in range(30)) for i in range(50)]
                     for u in range(30)])
    got = spf.social_rate(tau, clicks)
    assert isinstance(got, np.ndarray) and np.allclose(got, want)


def test_split_click_in_log_space():
    phi = spf.split_click(np.log([0.2, 0.1]), np.log([1.0, 2.0]), np.log([0.5, 3.0, 9.0]),
                             np.array([2.0, 0.0, 1.0]))
    want = np.array([0.2, 0.2, 1.0, 0.0, 9.0]) / 10.4
    assert np.allclose(phi, want)
    tiny = spf.split_click(np.full(3, -1000.0), np.zeros(3), np.array([-1001.0]), np.ones(1))
    assert np.all(np.isfinite(tiny)) and np.isclose(tiny.sum(), 1.0) and tiny[0] > tiny[-1]


def test_expected_log_is_digamma_minus_log_rate():
    from scipy.special import digamma
    shape, rate = np.array([[0.5, 2.0], [3.0, 1.0]]), np.array([[1.0, 4.0], [0.5, 2.0]])
    assert np.allclose(spf.expected_log(shape, rate), digamma(shape) - np.log(rate))


def test_explain_names_the_friend_with_the_largest_share():
    tau = sp.csr_matrix(np.array([[0, 0.5, 0.2, 0.9], [0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]))
    clicks = sp.csr_matrix(np.array([[0, 0], [1, 0], [2, 1], [0, 1]], dtype=float))
    # item 0: friend 1 gives 0.5, friend 2 gives 0.4, friend 3 did not click it
    got = spf.explain(tau, clicks, np.array([0.1, 0.1, 0.95]), np.array([0, 0, 0]),
                         np.array([0, 1, 1]))
    assert got.tolist() == [1, 3, -1]
    # 20 friends with equal shares: the lowest id explains, whatever order they were stored in
    order = np.random.default_rng(0).permutation(20)
    tied = sp.csr_matrix((np.full(20, 0.3), (np.zeros(20, int), 1 + order)), shape=(21, 21))
    assert spf.explain(tied, sp.csr_matrix(np.ones((21, 1))), np.zeros(1), np.array([0]),
                          np.array([0])).tolist() == [1]


# ----------------------------------------------------------------------------- metrics

def test_ncrr_hand_cases_with_ties():
    scores = np.array([[3.0, 1.0, 1.0, 0.0], [0.0, 5.0, 5.0, 5.0]])
    relevant = np.array([[False, True, False, False], [True, False, False, False]])
    candidates = np.ones_like(relevant)
    got = ranking.ncrr(scores, relevant, candidates)
    # user 0: tied at ranks 2-3, mean of 1/2 and 1/3; user 1: rank 4
    assert np.allclose(got, [(1 / 2 + 1 / 3) / 2, 1 / 4])
    # removing item 1 from the candidates of user 1 lifts its relevant item nowhere (still last)
    candidates[1, 1] = False
    assert np.isclose(ranking.ncrr(scores, relevant, candidates)[1], 1 / 3)


def test_ncrr_ties_at_sizes_where_unstable_sorts_reorder():
    scores = np.zeros((1, 40))
    scores[0, :5] = 1.0
    relevant = np.zeros((1, 40), bool)
    relevant[0, [7, 30]] = True  # two of the 35 tied at ranks 6..40
    got = ranking.ncrr(scores, relevant, np.ones_like(relevant))
    mean_rr = np.mean(1 / np.arange(6, 41))
    assert np.isclose(got[0], 2 * mean_rr / 1.5)


def test_ndcg_and_users_without_relevant_items():
    scores = np.array([[0.9, 0.5, 0.1], [1.0, 2.0, 3.0]])
    relevant = np.array([[False, True, True], [False, False, False]])
    got = ranking.ndcg(scores, relevant, np.ones_like(relevant))
    want = (1 / np.log2(3) + 1 / np.log2(4)) / (1 + 1 / np.log2(3))
    assert np.isclose(got[0], want) and np.isnan(got[1])


def test_rank_scores_rejects_bad_input():
    s, r = np.zeros((2, 3)), np.eye(2, 3, dtype=bool)
    with pytest.raises(ValueError, match="candidate"):
        ranking.ncrr(s, r, ~r)
    with pytest.raises(ValueError, match="shape"):
        ranking.ncrr(s, r[:1], r)
    with pytest.raises(ValueError, match="finite"):
        ranking.ncrr(np.full((2, 3), np.nan), r, np.ones_like(r))


# ----------------------------------------------------------------------------- folder layout

def test_folder_round_trip(small, tmp_path):
    data = socialdata.from_town(small)
    socialdata.write_folder(data, tmp_path)
    back = socialdata.read_folder(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(socialdata.FILES)
    users, items = back.user_ids, back.item_ids
    for name in ("train", "validation", "test"):
        original = getattr(data, name)[users][:, items]
        assert (getattr(back, name) != original).nnz == 0, name
    assert (back.network != data.network[users][:, users]).nnz == 0
    assert back.describe()["train_clicks"] == small.train.nnz


def _folder(tmp_path, train="1\t1\t1\n2\t2\t1\n", network="1\t2\n", other="1\t2\t1\n"):
    for name, text in (("train.tsv", train), ("validation.tsv", other), ("test.tsv", other),
                       ("network.tsv", network)):
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize("files,match", [
    (dict(network="1\t2\n9\t1\n"), r"network.tsv:2: user 9 appears in no rating file"),
    (dict(train="1\t1\t1\n2\t2\t-3\n"), r"train.tsv:2: a rating must be a non-negative count"),
    (dict(train="1\t1\t1\n\n2\t2\n"), r"train.tsv:3: expected 3 tab-separated fields"),
    (dict(network="1\tbob\n"), r"network.tsv:1: invalid literal"),
    (dict(train="1\t1.5\t1\n"), r"train.tsv:1:"),
])
def test_bad_folders_name_the_file_and_line(tmp_path, files, match):
    with pytest.raises(ValueError, match=match):
        socialdata.read_folder(_folder(tmp_path, **files))


def test_missing_file_is_a_value_error(tmp_path):
    _folder(tmp_path)
    (tmp_path / "test.tsv").unlink()
    with pytest.raises(ValueError, match="test.tsv: no such file"):
        socialdata.read_folder(tmp_path)


def test_reference_candidates_follow_eval_cpp(tmp_path):
    data = socialdata.read_folder(_folder(
        tmp_path, train="1\t1\t1\n2\t2\t1\n2\t3\t1\n", other="1\t2\t1\n1\t3\t1\n1\t7\t1\n2\t1\t1\n"))
    relevant, candidates = socialdata.reference_candidates(data)
    # item 7 has no training click: dropped; candidates are the test items minus own clicks
    assert relevant.sum() == 0  # every test row is also a validation row here
    assert not candidates[:, data.item_ids.tolist().index(7)].any()


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "course", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_cli_fits_spf_on_a_folder(small, tmp_path):
    socialdata.write_folder(socialdata.from_town(small), tmp_path)
    proc = run_cli("spf", str(tmp_path), "--iterations", "5", "--K", "4", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["users"] == 400 and out["K"] == 4 and 0 < out["ncrr"] < 1
    # the lesson's recipe: PF, then SPF continued from it with each prior; every fit counted
    fits = out["fits"]
    assert [f["model"] for f in fits] == ["pf", "spf", "spf", "spf"], fits
    assert [f["tau_prior"] for f in fits[1:]] == [list(p) for p in social.TAU_PRIORS]
    assert all(f["iterations"] == 5 for f in fits) and out["iterations"] == 20
    assert sum(f["kept"] for f in fits) == 1 and "continued from it" in out["recipe"]
    assert out["seconds_per_iteration"] == pytest.approx(out["seconds_fit"] / 20, abs=1e-3)
    assert 0 < out["cpu_seconds_fit"] and out["seconds_fit"] <= out["seconds_total"]
    paper = json.loads(run_cli("spf", str(tmp_path), "--start", "random", "--tau-prior", "2", "5",
                               "--iterations", "5", "--json").stdout)
    assert [(f["model"], f["start"], f["tau_prior"]) for f in paper["fits"]] == [("spf", "random", [2.0, 5.0])]
    assert paper["iterations"] == 5 and paper["tau_prior"] == [2.0, 5.0]
    pf = json.loads(run_cli("spf", str(tmp_path), "--model", "pf", "--iterations", "5", "--json").stdout)
    assert pf["model"] == "pf" and "tau_prior" not in pf and pf["iterations"] == 10


def test_cli_bad_folder_is_one_line(tmp_path):
    proc = run_cli("spf", str(_folder(tmp_path, network="1\t2\n5\t1\n")))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert "network.tsv:2" in proc.stderr
    proc = run_cli("export", "02_near_miss", "--out", str(tmp_path / "x"))
    assert proc.returncode == 2 and "05_social" in proc.stderr


def test_cli_export_writes_the_lesson_town(tmp_path):
    proc = run_cli("export", "05_social", "--seed", "1", "--out", str(tmp_path / "town"))
    assert proc.returncode == 0, proc.stderr
    data = socialdata.read_folder(tmp_path / "town")
    st = social.social_town(1)
    clicked = np.unique(st.item).size  # an item nobody clicked has no line to be written on
    assert data.describe()["train_clicks"] == st.train.nnz and data.shape == (2000, clicked)
    proc = run_cli("export", "05_social", "--users", "300", "--out", str(tmp_path / "small"))
    assert proc.returncode == 0, proc.stderr
    assert socialdata.read_folder(tmp_path / "small").shape[0] == 300
    proc = run_cli("export", "05_social", "--users", "0", "--out", str(tmp_path / "none"))
    assert proc.returncode == 2 and "--users" in proc.stderr


def test_filmtrust_on_the_mirror():
    if not os.environ.get("COURSE_DATA_MIRROR"):
        pytest.skip("COURSE_DATA_MIRROR is not set (CI sets it to ../shared/datasets); "
                    "the real-data analysis runs only on a local mirror in tests")
    data = socialdata.load_filmtrust(0)
    d = data.describe()
    assert (d["users"], d["items"], d["links"]) == (1432, 1396, 1089), d
    assert d["train_clicks"] + d["validation_clicks"] + d["test_clicks"] == 16312
    assert abs(d["test_clicks"] / 16312 - 0.10) < 0.01 and d["validation_clicks"] > 100
    real = social.filmtrust_or_skip(0)
    n = real["ncrr"]
    assert n["social_only"] < 0.5 * n["pf"], n
    assert abs(n["spf"] - n["pf"]) < 0.02 and abs(n["popularity"] - n["pf"]) < 0.03, n


def test_filmtrust_without_data_says_why(monkeypatch):
    from course import datasets

    def unavailable(*args, **kwargs):
        raise datasets.DatasetUnavailable("no mirror, no cache and no network")

    monkeypatch.setattr(datasets, "fetch", unavailable)
    assert social.filmtrust_or_skip(0) == {"skipped": "no mirror, no cache and no network"}
