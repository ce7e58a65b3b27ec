"""Under grading, a lesson never displays numbers that contradict its prose.

Each ready lesson's solution, as ``nbgrader autograde`` executed it (the lesson's one autograde
in conftest, ``NBGRADER_EXECUTION=autograde``), is checked against its key claims
(``tests/claims.py``): either the experiment ran and agrees with the text, or it was skipped
with a sentence saying so.

Real-data sections are skipped under grading, so their claims are checked on what they print
for the real data (``python -m course reproduce``'s ``real_data``, through the same printing
function the notebook calls), and each claim must fail on an output mutated to contradict it.
"""
from __future__ import annotations

import copy
import inspect
import re

import pytest

from claims import CLAIMS, REAL_USERS, failed_claims, real_data_claims
from conftest import READY
from course import budget, nearmiss


def test_every_ready_lesson_states_its_claims():
    missing = [lesson_id for lesson_id in READY if lesson_id not in CLAIMS]
    assert not missing, f"lessons without claims in tests/claims.py: {missing}"


@pytest.mark.parametrize("lesson_id", READY)
def test_graded_run_agrees_with_the_text(lesson_id, notebooks):
    assert lesson_id in CLAIMS, f"{lesson_id} has no claims in tests/claims.py"
    failed = failed_claims(lesson_id, notebooks.graded(lesson_id).notebooks["solution"])
    assert not failed, f"{lesson_id} under grading contradicts its text:\n" + "\n".join(failed)


# --- the real-data sections of lessons 01 and 02 (not run under grading) ------------------------


#: what each lesson's real-data cell printed on seed 0 (course.budget / course.nearmiss real_users)
REAL_01 = {"users": 113, "questions": 686,
           "accuracy": {"none": 0.5798, "inputs": 0.5448, "outputs": 0.618, "both": 0.5761},
           "items_shown": {"inputs": 5.3528, "outputs": 3.2172, "both": 2.0612},
           "outputs_minus_inputs": {"mean": 0.0732, "ci95": [0.03, 0.1163]},
           "outputs_minus_none": {"mean": 0.0382, "ci95": [-0.013, 0.0852]},
           "inputs_minus_none": {"mean": -0.035, "ci95": [-0.0724, -0.0022]},
           "outputs_minus_both": {"mean": 0.0418, "ci95": [0.0127, 0.0713]},
           "budget_curve": {"k": [1, 2, 4, 8, 16], "outputs": [0.6146, 0.6086, 0.609, 0.594, 0.5902],
                            "both": [0.5719, 0.5652, 0.575, 0.5389, 0.5398],
                            "items_shown": [1.0, 2.0, 3.6953, 6.312, 10.1866]},
           "verdict": "held"}
TOWN_01 = {"none": 0.770, "inputs": 0.765, "outputs": 0.827, "both": 0.810}
REAL_02 = {"users": 732, "films": 2071, "questions_per_user": 10, "test_users": 366, "epochs": 5,
           "buckets": ["self", "1", "2-5", "6-20", "21-100", "101-500", "501-731"],
           "accuracy": [0.5842, 0.5776, 0.579, 0.5796, 0.5793, 0.5702, 0.5691],
           "log_loss": [0.6913, 0.7157, 0.6986, 0.6981, 0.697, 0.7058, 0.7096],
           "confidence": [0.6368, 0.6368, 0.6342, 0.634, 0.6344, 0.6315, 0.6266],
           "ece": [0.0579, 0.0616, 0.0552, 0.058, 0.056, 0.0613, 0.0575],
           "random": {"accuracy": 0.5722, "log_loss": 0.696, "confidence": 0.6276, "ece": 0.0553},
           "no_profile": {"accuracy": 0.5604, "log_loss": 0.6861, "confidence": 0.5324, "ece": 0.0334},
           "gap_near_minus_random": {"mean": 0.0054, "ci95": [-0.0049, 0.0155]},
           "gap_own_minus_none": {"mean": 0.0238, "ci95": [0.0074, 0.0402]},
           "trust": {"self": 0.7943, "1": 0.7988, "random": 0.7899},
           "similarity_on_ratings": {"accuracy": [0.5842, 0.577], "random_accuracy": 0.5688,
                                     "gap_near_minus_random": {"mean": 0.0083, "ci95": [-0.0032, 0.0201]}},
           "town_epochs": {"epochs": 40, "own_accuracy": 0.579, "own_ece": 0.1446,
                           "gap_near_minus_random": {"mean": 0.029, "ci95": [0.0102, 0.048]}},
           "verdict": "did not"}
TOWN_02 = {"accuracy": [0.852, 0.710], "no_profile": {"accuracy": 0.767},
           "gap_near_minus_random": {"mean": -0.022, "ci95": [-0.029, -0.015]}}


def _set(path: str, value):
    """A mutation: the result with ``path`` ("a.b.0") set to ``value``."""
    def mutate(result: dict) -> dict:
        result = copy.deepcopy(result)
        *parents, last = path.split(".")
        node = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(last) if isinstance(node, list) else last] = value
        return result
    return mutate


def _both(*mutations):
    def mutate(result: dict) -> dict:
        for m in mutations:
            result = m(result)
        return result
    return mutate


#: lesson -> (what it printed, how it prints, the town beside, {claim tag: a mutation that breaks it})
MUTATIONS = {
    "01_profiles": (REAL_01, budget.real_users_text, TOWN_01, {
        "real-01a": _both(_set("outputs_minus_inputs", {"mean": -0.01, "ci95": [-0.05, 0.03]}),
                          _set("verdict", "did not")),
        "real-01b": _set("verdict", "did not"),
        "real-01c": _set("inputs_minus_none.mean", 0.03),
        "real-01d": _set("outputs_minus_both.mean", -0.02),
        "real-01e": _set("outputs_minus_none.ci95", [0.01, 0.08]),
        "real-01f": _set("accuracy.none", 0.48),
        "real-01g": _set("budget_curve.outputs", [0.58, 0.59, 0.60, 0.61, 0.62]),
        "real-01h": _set("budget_curve.both", [0.62, 0.61, 0.61, 0.60, 0.60])}),
    "02_near_miss": (REAL_02, nearmiss.real_users_text, TOWN_02, {
        "real-02a": _both(_set("gap_near_minus_random", {"mean": -0.012, "ci95": [-0.02, -0.004]}),
                          _set("verdict", "held")),
        "real-02b": _set("gap_near_minus_random.ci95", [-0.03, 0.02]),
        "real-02c": _set("gap_own_minus_none.mean", 0.05),
        "real-02d": _set("trust.random", 0.70),
        "real-02e": _set("similarity_on_ratings.gap_near_minus_random.ci95", [-0.03, -0.002]),
        "real-02f": _set("town_epochs.own_ece", 0.05),
        "real-02g": _set("verdict", "held"),
        "real-02h": _set("gap_own_minus_none.mean", 0.04)}),
}


@pytest.mark.parametrize("lesson_id", sorted(MUTATIONS))
def test_real_data_claims_hold_on_the_printout_and_each_fails_on_a_mutation(lesson_id):
    real, text, town, mutations = MUTATIONS[lesson_id]
    tags = set(re.findall(r'"(real-0\d\w)[:,]', inspect.getsource(REAL_USERS[lesson_id][1])))
    assert tags == set(mutations), f"claims without a mutation, or mutations without a claim: {tags ^ set(mutations)}"
    assert real_data_claims(lesson_id, text(real, town)) == [], "the seed-0 printout must satisfy its claims"
    assert real_data_claims(lesson_id, text({"skipped": "no data here."}, town)) == []
    for tag, mutate in mutations.items():
        failed = real_data_claims(lesson_id, text(mutate(real), town))
        assert any(f.startswith(tag) for f in failed), f"{tag} did not fail on its mutation: {failed}"


@pytest.mark.parametrize("lesson_id", sorted(REAL_USERS))
def test_real_data_printout_agrees_with_the_text(lesson_id, reproduced):
    """The real-data section's claims on what it prints for the real data (seed 0): the
    notebook skips the section under grading, so the graded run cannot check it."""
    result = reproduced(lesson_id)
    if "skipped" in result["real_data"]:
        pytest.skip(f"{lesson_id}'s real data is not here ({result['real_data']['skipped']}); "
                    "set COURSE_DATA_MIRROR")
    _, text, _, _ = MUTATIONS[lesson_id]
    town = result["profile_source"] if lesson_id == "01_profiles" else result
    printed = text(result["real_data"], town)
    failed = real_data_claims(lesson_id, printed)
    assert not failed, f"{lesson_id}'s real-data section contradicts its text:\n" + "\n".join(failed) + "\n" + printed
