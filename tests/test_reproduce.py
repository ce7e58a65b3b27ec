"""The lessons' headline experiments reproduce their claims (default seed, reference code).

These run the same code as ``python -m course reproduce <id> --json``. They assert the
orderings each lesson teaches, with the issues' margins where the default seed clears them by
a wide margin; the numbers for seeds 0-3 are reported in the closing notes.
"""
import pytest

from course import findings, metrics


@pytest.fixture
def profiles(reproduced):
    return reproduced("01_profiles")


@pytest.fixture
def near_miss(reproduced):
    return reproduced("02_near_miss")


@pytest.mark.lesson("01_profiles")
def test_profiles_outputs_personalize_and_inputs_do_not(profiles):
    s = profiles["profile_source"]
    assert set(s) == {"none", "inputs", "outputs", "both"} and profiles["seed"] == 0
    assert s["outputs"] >= s["both"] - 0.01, f"outputs {s['outputs']:.3f} vs pairs {s['both']:.3f}"
    assert s["outputs"] - s["inputs"] >= 0.05, f"outputs {s['outputs']:.3f} vs inputs {s['inputs']:.3f}"
    assert abs(s["inputs"] - s["none"]) <= 0.02, f"inputs {s['inputs']:.3f} vs none {s['none']:.3f}"


@pytest.mark.lesson("01_profiles")
def test_profiles_budget_curve_shape(profiles):
    c = profiles["budget_curve"]
    assert len(c["k"]) == len(c["outputs"]) == len(c["both"])
    assert c["both"][-1] < max(c["both"]) - 0.01, f"pairs should fall at the largest k: {c['both']}"
    assert c["outputs"][-1] >= max(c["outputs"]) - 0.01, f"outputs should keep rising: {c['outputs']}"


@pytest.mark.lesson("01_profiles")
def test_profiles_memory_orderings(profiles):
    m, still = profiles["memory"], profiles["memory_no_drift"]
    assert m["semantic_summary"] - m["episodic_recent"] >= 0.01, f"summary vs recent under drift: {m}"
    assert m["episodic_recent"] - m["episodic_similar"] >= 0.01, f"recent vs similar under drift: {m}"
    assert still["episodic_similar"] >= still["episodic_recent"] - 0.01, f"no drift: {still}"


def _real(result: dict) -> dict | None:
    """A lesson's real-data result, or None when it skipped for want of the data (which it
    must say)."""
    real = result["real_data"]
    if "skipped" in real:
        assert "COURSE_DATA_MIRROR" in real["skipped"] or "SHA-256" in real["skipped"], real
        return None
    return real


@pytest.mark.lesson("01_profiles")
def test_profiles_real_users_report_their_gaps(profiles):
    real = _real(profiles)
    if real is None:
        return
    assert set(real["accuracy"]) == {"none", "inputs", "outputs", "both"} and real["users"] >= 100
    for name in ("outputs_minus_inputs", "outputs_minus_none", "inputs_minus_none", "outputs_minus_both"):
        lo, hi = real[name]["ci95"]
        assert lo <= real[name]["mean"] <= hi, f"{name}: {real[name]}"
    acc = real["accuracy"]
    assert abs(real["outputs_minus_inputs"]["mean"] - (acc["outputs"] - acc["inputs"])) < 1e-3
    assert real["verdict"] == metrics.verdict(real["outputs_minus_inputs"], +1), real["verdict"]
    curve = real["budget_curve"]
    assert len(curve["k"]) == len(curve["outputs"]) == len(curve["both"]) == len(curve["items_shown"])


@pytest.mark.lesson("02_near_miss")
def test_near_miss_real_users_report_their_gaps(near_miss):
    real = _real(near_miss)
    if real is None:
        return
    assert real["buckets"][:-1] == near_miss["buckets"][:-1] and real["users"] >= 700
    for gap in (real["gap_near_minus_random"], real["gap_own_minus_none"],
                real["similarity_on_ratings"]["gap_near_minus_random"],
                real["town_epochs"]["gap_near_minus_random"]):
        assert gap["ci95"][0] <= gap["mean"] <= gap["ci95"][1], gap
    assert real["verdict"] == metrics.verdict(real["gap_near_minus_random"], -1), real["verdict"]
    assert abs(real["gap_near_minus_random"]["mean"]
               - (real["accuracy"][1] - real["random"]["accuracy"])) < 1e-3


@pytest.mark.lesson("02_near_miss")
def test_near_miss_valley(near_miss):
    r = near_miss
    assert r["buckets"][:2] == ["self", "1"] and r["seed"] == 0
    acc, ll, ece, conf = r["accuracy"], r["log_loss"], r["ece"], r["confidence"]
    assert acc[0] - acc[1] >= 0.08, f"own {acc[0]:.3f} vs near twin {acc[1]:.3f}"
    gap = r["gap_near_minus_random"]
    assert gap["ci95"][1] < 0, f"near twin minus random: {gap}"
    assert ll[1] > r["random"]["log_loss"], f"log-loss near twin {ll[1]:.3f} vs random {r['random']['log_loss']:.3f}"
    assert ece[1] >= 2 * ece[0], f"ECE near twin {ece[1]:.3f} vs own {ece[0]:.3f}"
    assert conf[1] >= conf[0] - 0.03, f"confidence near twin {conf[1]:.3f} vs own {conf[0]:.3f}"
    assert acc[-1] > acc[1], f"least similar {acc[-1]:.3f} should recover above rank 1 {acc[1]:.3f}"


@pytest.mark.lesson("02_near_miss")
def test_near_miss_counterfactuals_remove_the_valley(near_miss):
    cf = near_miss["counterfactuals"]
    out = cf["similarity_on_outputs"]
    assert out["accuracy"][1] >= out["random_accuracy"], f"similarity on outputs: {out}"
    blind = cf["no_relevance_weighting"]
    assert abs(blind["accuracy"][1] - blind["random_accuracy"]) <= 0.02, f"no relevance weighting: {blind}"
    shared = cf["shared_tastes"]
    assert shared["accuracy"][1] > shared["random_accuracy"], f"shared tastes: {shared}"


@pytest.fixture
def social_result(reproduced):
    return reproduced("05_social")


@pytest.mark.lesson("05_social")
def test_social_spf_beats_its_baselines(social_result):
    r = social_result
    assert r["seed"] == 0 and set(r["ncrr"]) == {"spf", "pf", "social_only", "lookalike",
                                                  "popularity", "oracle"}
    n = r["ncrr"]
    assert r["gain_spf_minus_pf"]["ci95"][0] > 0, r["gain_spf_minus_pf"]
    assert n["spf"] > n["lookalike"] and n["spf"] > n["popularity"], n
    assert n["oracle"] - n["spf"] >= 0.05, f"methods should separate below the oracle: {n}"


@pytest.mark.lesson("05_social")
def test_social_gain_comes_from_influenced_clicks(social_result):
    o = social_result["by_origin"]
    infl = o["influenced"]["spf"] - o["influenced"]["pf"]
    own = o["own_taste"]["spf"] - o["own_taste"]["pf"]
    assert infl > own + 0.02, f"influenced gain {infl:.4f} vs own-taste gain {own:.4f}"


@pytest.mark.lesson("05_social")
def test_social_the_prior_on_tau_makes_spf_win(social_result):
    s = social_result["start_and_prior"]
    cold, warm = s["random start"], s["PF start"]
    assert cold["paper's prior"] < s["pf"] and warm["paper's prior"] < s["pf"], s
    assert min(cold["chosen on validation"], warm["chosen on validation"]) > s["pf"] + 0.01, s
    prior = cold["chosen on validation"] - cold["paper's prior"]
    assert abs(warm["chosen on validation"] - cold["chosen on validation"]) < prior, s


@pytest.mark.lesson("05_social")
def test_social_counter_conditions(social_result):
    none, alike = social_result["no_influence"], social_result["homophily_no_influence"]
    assert abs(none["spf"] - none["pf"]) <= 0.1 * none["pf"], none
    assert alike["lookalike"] >= alike["spf"] - 0.005, alike
    assert set(social_result["seconds_per_iteration"]) == {"spf", "pf"}
    real = social_result["real_data"]
    assert "skipped" in real or set(real["ncrr"]) == {"spf", "pf", "social_only", "popularity"}


@pytest.fixture
def echo(reproduced):
    return reproduced("06_echo_chambers")


@pytest.mark.lesson("06_echo_chambers")
def test_echo_reports_the_documented_keys(echo):
    per_round = {"approval", "truthfulness", "sycophancy", "polarization", "homogenization"}
    gap_keys = {"approval", "sycophancy", "truthfulness", "polarization"}
    assert echo["seed"] == 0 and echo["rounds"] >= 1
    for name in ("aggregate", "personalized"):
        assert set(echo[name]) == per_round
        assert all(len(echo[name][k]) == echo["rounds"] for k in per_round)
    assert set(echo["final_gap"]) == gap_keys == set(echo["no_sycophancy_bias"]["final_gap"])
    for name in ("aggregate", "personalized"):
        assert set(echo["vulnerable"][name]) == {"vulnerable", "others"}
    assert {"lambda", "approval", "sycophancy"} <= set(echo["tradeoff"])
    assert "skipped" in echo["real_data"] or {"aggregate", "personalized"} <= set(echo["real_data"])
    assert set(echo["random_serving"]) == gap_keys


@pytest.mark.lesson("06_echo_chambers")
def test_echo_random_serving_and_the_long_run(echo):
    at_random, long = echo["random_serving"], echo["long_run"]
    p = echo["personalized"]
    assert p["sycophancy"][0] == pytest.approx(at_random["sycophancy"], abs=1e-4), "round 0 serves at random"
    assert long["rounds"][0] == echo["rounds"] and long["polarization"][0] > at_random["polarization"], long
    rise = [b - a for a, b in zip(long["polarization"], long["polarization"][1:])]
    assert rise[0] >= 0.02 and abs(rise[-1]) <= 0.01, f"polarization should level off: {long}"
    assert long["sycophancy"][-1] > long["sycophancy"][0], f"sycophancy should keep creeping up: {long}"


@pytest.mark.lesson("06_echo_chambers")
def test_echo_personalization_buys_approval_with_sycophancy(echo):
    gap = echo["final_gap"]
    assert gap["approval"] >= 0.05, f"approval gap {gap['approval']:.3f}"
    assert gap["sycophancy"] >= 0.10, f"sycophancy gap {gap['sycophancy']:.3f}"
    assert gap["truthfulness"] < 0, f"truthfulness gap {gap['truthfulness']:.3f}"
    assert gap["polarization"] > 0, f"polarization gap {gap['polarization']:.3f}"


@pytest.mark.lesson("06_echo_chambers")
def test_echo_gaps_close_without_the_bias(echo):
    gap = echo["no_sycophancy_bias"]["final_gap"]
    assert abs(gap["truthfulness"]) <= 0.02 and abs(gap["sycophancy"]) <= 0.02, gap


@pytest.mark.lesson("06_echo_chambers")
def test_echo_tradeoff_and_vulnerable_minority(echo):
    curve = echo["tradeoff"]
    steps = [b - a for a, b in zip(curve["sycophancy"], curve["sycophancy"][1:])]
    assert min(steps) >= -0.02, f"sycophancy should rise with lambda: {curve['sycophancy']}"
    assert curve["half_gain_lambda"] is not None and curve["half_gain_lambda"] < 1, curve
    p, a = echo["vulnerable"]["personalized"], echo["vulnerable"]["aggregate"]
    assert p["vulnerable"] - p["others"] >= 0.2, f"personalized: {p}"
    assert a["vulnerable"] - a["others"] < 0.2, f"aggregate: {a}"


@pytest.fixture
def personas(reproduced):
    return reproduced("04_personas")


@pytest.mark.lesson("04_personas")
def test_personas_gain_for_multi_persona_users_only(personas):
    r = personas
    assert r["seed"] == 0 and r["by_personas"]["n_personas"] == [1, 2, 3]
    multi, single = r["gain_multi"], r["gain_single"]
    assert multi["ci95"][0] > 0 and multi["mean"] >= 0.03, f"AMP - single, 2-3 personas: {multi}"
    assert abs(single["mean"]) <= 0.01, f"AMP - single, 1 persona: {single}"
    three = {name: r["by_personas"][name][2] for name in ("single", "single_kd", "amp", "max")}
    assert three["amp"] > three["single"] and three["amp"] > three["single_kd"], (
        f"3-persona users: AMP must beat one vector at d and at K*d: {three}")


@pytest.mark.lesson("04_personas")
def test_personas_explanations_beat_chance(personas):
    e = personas["explanation"]
    assert e["faithfulness"] >= e["chance"] + 0.30, f"explanations: {e}"
    r = personas["recommendation_explanation"]
    assert e["faithfulness"] > r["faithfulness"] >= r["chance"] + 0.15, f"recommendations: {r}, clicks: {e}"


@pytest.mark.lesson("04_personas")
def test_personas_break_it(personas):
    flat, k1 = personas["single_taste_town"], personas["k1_equals_single"]
    assert abs(flat["amp"] - flat["single"]) <= 0.01, f"single-taste town: {flat}"
    assert abs(k1["amp"] - k1["single"]) <= 0.005, f"K = 1 vs single vector: {k1}"
    real = personas["real_data"]
    assert "skipped" in real or set(real["accuracy"]) == {"mean", "attention", "max"}, real


@pytest.fixture
def capstone(reproduced):
    return reproduced("07_capstone")


@pytest.mark.lesson("07_capstone")
def test_capstone_reports_the_documented_keys(capstone):
    r = capstone
    assert r["seed"] == 0 and r["worlds"] >= 3 and len(r["unseen"]) == r["worlds"]
    assert set(r["guards"]) == {"none", "never", "certainty", "identity", "reference"}
    for g in (*r["guards"].values(), r["lesson_guard"]):
        assert {"log_loss", "accuracy", "coverage", "by_kind", "passed_worlds"} <= set(g)
        assert set(g["by_kind"]) == {"own", "near_twin", "random", "persona"}


@pytest.mark.lesson("07_capstone")
def test_capstone_reference_guard_wins_on_unseen_worlds(capstone):
    g = capstone["guards"]
    loss = {name: row["log_loss"] for name, row in g.items()}
    kind = lambda k: {name: row["by_kind"][k]["log_loss"] for name, row in g.items()}  # noqa: E731
    assert min(loss, key=loss.get) == "reference", loss
    assert kind("near_twin")["reference"] < kind("near_twin")["identity"], kind("near_twin")
    assert max(kind("near_twin"), key=kind("near_twin").get) == "none", kind("near_twin")
    assert max(kind("own"), key=kind("own").get) == "never", kind("own")
    assert g["reference"]["passed_worlds"] == capstone["worlds"], g["reference"]
    assert all(g[name]["passed_worlds"] == 0 for name in ("none", "never", "certainty")), g
    assert capstone["best_constant"]["reference_gain"] > 0, capstone["best_constant"]


@pytest.mark.parametrize("lesson_id", [f.lesson for f in findings.FINDINGS])
def test_course_summary_quotes_what_reproduce_measures(lesson_id, reproduced):
    """Lesson 07's course summary (course.findings) against each lesson's fresh run."""
    finding = next(f for f in findings.FINDINGS if f.lesson == lesson_id)
    result = reproduced(lesson_id)
    for name, (path, quoted) in finding.measured.items():
        measured = findings.lookup(result, path)
        assert abs(measured - quoted) <= 0.002 + 1e-3 * abs(quoted), (
            f"{lesson_id}: the summary quotes {name} = {quoted}, reproduce gives {path} = {measured:.4f}; "
            "update course/findings.py")


@pytest.mark.parametrize("lesson_id", [f.lesson for f in findings.FINDINGS if f.real_gap])
def test_course_summary_says_what_real_users_showed(lesson_id, reproduced):
    """Lesson 07's column "on real users" against each lesson's fresh run, when the data is here."""
    finding = next(f for f in findings.FINDINGS if f.lesson == lesson_id)
    path, sign = finding.real_gap
    result = reproduced(lesson_id)
    if "skipped" in result["real_data"]:
        pytest.skip(f"{lesson_id}'s real data is not here ({result['real_data']['skipped']}); "
                    "set COURSE_DATA_MIRROR")
    gap = {"mean": findings.lookup(result, f"{path}.mean"),
           "ci95": [findings.lookup(result, f"{path}.ci95.{i}") for i in (0, 1)]}
    assert metrics.verdict(gap, sign) == finding.real, (
        f"{lesson_id}: the summary says {finding.real!r} on real users, but {path} = {gap} "
        "says otherwise; update course/findings.py")
