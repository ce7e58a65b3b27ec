"""What each lesson's prose claims, checked on what an executed notebook printed.

A lesson's function takes the executed notebook (an nbformat object with outputs) and returns
the claims that fail, as sentences; an empty list means the text and the numbers agree. The
numbers are read from the cells' printed output (by grade id), so the check sees exactly what
a student, or a graded notebook's feedback, shows. A claim names the text it comes from.

Every ready lesson must be in :data:`CLAIMS`; a missing lesson fails the test.
"""
from __future__ import annotations

import math
import re
from typing import Callable

__all__ = ["CLAIMS", "REAL_USERS", "failed_claims", "real_data_claims", "printed", "Unreadable"]

NUMBER = r"([-+]?(?:\d+\.\d*|\d+|nan))"


class Unreadable(Exception):
    """A cell did not print what a claim reads (so the claim cannot be checked)."""


def printed(nb, cell_id: str) -> str:
    """Everything the cell with this grade id wrote to stdout."""
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell_id:
            return "".join(o.get("text", "") for o in cell.get("outputs", [])
                           if o.get("output_type") == "stream")
    raise Unreadable(f"no cell {cell_id!r}")


def read(nb, cell_id: str, pattern: str) -> list[float]:
    """The numbers ``pattern`` captures in a cell's printed output (``{n}`` stands for a
    number); Unreadable when the pattern is not there."""
    text = printed(nb, cell_id)
    match = re.search(pattern.replace("{n}", NUMBER), text)
    if match is None:
        raise Unreadable(f"{cell_id} did not print /{pattern}/; it printed:\n{text[-800:]}")
    return [float(g) for g in match.groups()]


class Checker:
    """Collects the claims that fail."""

    def __init__(self):
        self.failed: list[str] = []

    def __call__(self, ok: bool, claim: str, seen: str) -> None:
        if not ok:
            self.failed.append(f"{claim} -- but the notebook shows {seen}")


def _row(nb, cell_id: str, label: str, count: int) -> list[float]:
    """The first ``count`` numbers on the printed line starting with ``label``."""
    for line in printed(nb, cell_id).splitlines():
        if line.startswith(label):
            values = re.findall(NUMBER, line[len(label):])
            if len(values) >= count:
                return [float(v) for v in values[:count]]
    raise Unreadable(f"{cell_id} printed no line starting {label!r} with {count} numbers")


def _found(text: str, pattern: str, where: str) -> list[float]:
    """The numbers ``pattern`` captures in ``text`` (``{n}``: a number); Unreadable if absent."""
    match = re.search(pattern.replace("{n}", NUMBER), text)
    if match is None:
        raise Unreadable(f"{where} did not print /{pattern}/; it printed:\n{text[-800:]}")
    return [float(g) for g in match.groups()]


def _line_numbers(text: str, label: str, where: str) -> list[float]:
    """Every number on the first printed line that starts with ``label``."""
    for line in text.splitlines():
        if line.startswith(label):
            return [float(v) for v in re.findall(NUMBER, line[len(label):])]
    raise Unreadable(f"{where} printed no line starting {label!r}:\n{text[-800:]}")


def _verdict_line(text: str, where: str) -> str:
    """"held", "did not" or "reversed", from a real-data printout's last line."""
    match = re.search(r"^verdict: (held|did not hold|reversed)", text, re.M)
    if match is None:
        raise Unreadable(f"{where} printed no verdict line:\n{text[-800:]}")
    return {"held": "held", "did not hold": "did not", "reversed": "reversed"}[match[1]]


def _interval_verdict(lo: float, hi: float, sign: int) -> str:
    """What a gap's interval says of a town effect whose sign is ``sign``."""
    lo, hi = sorted((sign * lo, sign * hi))
    return "held" if lo > 0 else "reversed" if hi < 0 else "did not"


# --- 00 ----------------------------------------------------------------------------------------

def lesson_00(nb) -> list[str]:
    check = Checker()
    (share,) = read(nb, "code-12", r"Across all \d+ users, {n}% of nearest neighbours share a community")
    check(share >= 75, "summary: most nearest neighbours by topic usage share a community",
          f"{share:.0f}%")
    near, rand = read(nb, "code-14b", r"nearest neighbour {n}, random other user {n}")
    check(near <= rand + 0.05, "md-15: the nearest neighbour's taste agrees with the user's no "
          "better than a random user's", f"nearest {near:+.3f}, random {rand:+.3f}")
    return check.failed


# --- 01 ----------------------------------------------------------------------------------------

def lesson_01(nb) -> list[str]:
    check = Checker()
    src = {name: _row(nb, "code-18", f"profile from {name}", 1)[0]
           for name in ("none", "inputs", "outputs", "both")}
    check(abs(src["inputs"] - src["none"]) <= 0.02, "md-08: inputs add nothing over no profile",
          f"inputs {src['inputs']:.3f}, none {src['none']:.3f}")
    check(src["outputs"] >= src["none"] + 0.03 and src["both"] >= src["none"] + 0.02,
          "md-08: outputs carry the preferences, and pairs carry them too",
          f"none {src['none']:.3f}, outputs {src['outputs']:.3f}, pairs {src['both']:.3f}")
    check(src["outputs"] >= src["both"] - 0.01, "summary: outputs personalize at least as well "
          "as complete pairs under the budget", f"outputs {src['outputs']:.3f}, pairs {src['both']:.3f}")

    ks = [int(k) for k in _row(nb, "code-09", "k ", 7)]
    out, pairs = _row(nb, "code-09", "outputs", len(ks)), _row(nb, "code-09", "pairs", len(ks))
    fits = [i for i, k in enumerate(ks) if k <= 16]           # a whole pair fits up to k = 16
    check(all(abs(out[i] - pairs[i]) <= 0.02 for i in fits), "md-10: up to the dotted line pairs "
          "and outputs rise together", f"outputs {out}, pairs {pairs}")
    check(pairs[-1] < max(pairs) - 0.01 and abs(pairs[-1] - src["inputs"]) <= 0.02,
          "md-10: past the dotted line pairs fall to about what inputs alone give",
          f"pairs {pairs}, inputs {src['inputs']:.3f}")
    check(out[-1] >= max(out) - 0.01 and out[-1] > out[0], "md-10: outputs rise and level off at k = 32",
          f"outputs {out}")
    check(-0.03 <= out[-1] - src["outputs"] <= 0.005 and -0.03 <= pairs[fits[-1]] - src["both"] <= 0.005,
          "md-10: the curves end a little below the bars (outputs at k = 32, pairs at k = 16)",
          f"curve {out[-1]:.3f} / {pairs[fits[-1]]:.3f}, bars {src['outputs']:.3f} / {src['both']:.3f}")
    check(abs(out[0] - src["none"]) <= 0.015, "md-10: at k = 1 the outputs curve sits at about "
          "the 'none' bar", f"{out[0]:.3f} vs none {src['none']:.3f}")

    memories = ("episodic_similar", "episodic_recent", "semantic_summary", "semantic_parametric")
    drift = {m: _row(nb, "code-16", m, 2)[0] for m in memories}
    still = {m: _row(nb, "code-16", m, 2)[1] for m in memories}
    recall = max(drift["episodic_recent"], drift["episodic_similar"])
    check(drift["semantic_parametric"] >= recall + 0.02, "summary: per-user parameters beat raw "
          "recall clearly", f"{drift}")
    gain = drift["semantic_summary"] - drift["episodic_recent"]
    check(0.005 <= gain <= 0.04, "summary: the per-topic summary beats recency recall by a "
          "couple of points", f"{gain:+.3f}")
    check(drift["episodic_recent"] >= drift["episodic_similar"] + 0.01, "summary: recency beats "
          "similarity recall when tastes drift strongly", f"{drift}")
    check(still["episodic_similar"] > still["episodic_recent"], "summary: without drift, "
          "similarity recall overtakes recency", f"{still}")

    gaps = {rate: read(nb, "code-20", rf"drift {rate:.1f}: recent minus similar recall {{n}}")[0]
            for rate in (0.0, 0.5, 1.5)}
    check(gaps[1.5] > 0 and gaps[0.5] <= 0.005 and gaps[0.0] < 0, "break it: recency beats "
          "similarity only under strong drift", f"recent minus similar {gaps}")
    return check.failed + real_data_claims("01_profiles", printed(nb, REAL_USERS["01_profiles"][0]))


def real_users_01(text: str) -> list[str]:
    """Lesson 01's "Does it hold for real people?" (Beer Stack Exchange), on its printout."""
    check = Checker()
    where = "lesson 01's real-data cell"
    gap = {name: _found(text, rf"{label}{{n}} \(95% CI {{n}} to {{n}}\)", where) for name, label in
           (("outputs_inputs", r"outputs minus inputs, accuracy per user: "),
            ("outputs_none", "outputs minus none: "), ("inputs_none", "inputs minus none: "),
            ("outputs_pairs", "outputs minus pairs: "))}
    (none,) = _found(text, r"\nnone\s+{n}", where)
    said = _verdict_line(text, where)
    m, lo, hi = gap["outputs_inputs"]
    check(m > 0, "real-01a, md-real: on real answerers outputs come out ahead of inputs",
          f"outputs minus inputs {m:+.3f}")
    check(said == _interval_verdict(lo, hi, +1), "real-01b: the verdict line says what the "
          "interval of outputs minus inputs says", f"verdict {said!r}, interval [{lo:+.3f}, {hi:+.3f}]")
    check(gap["inputs_none"][0] <= 0.005, "real-01c, md-real: inputs do not help (the questions "
          "a user answered tell their answer from another no better than no profile)",
          f"inputs minus none {gap['inputs_none'][0]:+.3f}")
    check(gap["outputs_pairs"][0] >= 0, "real-01d, md-real: outputs do at least as well as "
          "question-answer pairs", f"outputs minus pairs {gap['outputs_pairs'][0]:+.3f}")
    _, lo_n, hi_n = gap["outputs_none"]
    check(lo_n <= 0 <= hi_n, "real-01e, md-real: whether outputs beat no profile at all is not "
          "settled (the interval includes zero)", f"outputs minus none [{lo_n:+.3f}, {hi_n:+.3f}]")
    check(none > 0.5, "real-01f, md-real: without a profile the reader already beats a coin",
          f"none {none:.3f}")
    curve = text.split("\nbudget curve:")[-1]
    ks, out, pairs = (_line_numbers(curve, label, where) for label in ("k ", "outputs ", "pairs "))
    if not len(ks) == len(out) == len(pairs) >= 2:
        raise Unreadable(f"{where} printed a budget curve of {len(ks)} k, {len(out)} and {len(pairs)} values")
    check(out[-1] <= out[0], "real-01g, md-real: unlike the town's, the outputs curve does not rise "
          "with k", f"outputs {out} at k {ks}")
    check(sum(pairs) < sum(out), "real-01h, md-real: across k, pairs stay below outputs",
          f"outputs {out}, pairs {pairs}")
    return check.failed


# --- 02 ----------------------------------------------------------------------------------------

NEAR = ("1", "2-5", "6-20", "21-100", "101-500")   # buckets inside a community of ~500


def lesson_02(nb) -> list[str]:
    check = Checker()
    table = {}
    for line in printed(nb, "code-08").splitlines()[1:]:
        parts = line.split()
        if len(parts) == 5:
            table[parts[0]] = dict(zip(("accuracy", "log_loss", "confidence", "ece"), map(float, parts[1:])))
    if "self" not in table or "random" not in table or not all(b in table for b in NEAR):
        raise Unreadable(f"code-08 printed no full sweep table: {sorted(table)}")
    rnd, own = table["random"], table["self"]
    none_acc, none_conf = read(nb, "code-09", r"no profile: accuracy {n}, log-loss [-+.\d]+, confidence {n}")
    below = {b: table[b]["accuracy"] - rnd["accuracy"] for b in NEAR}
    check(all(v < 0 for v in below.values()), "md-10: near substitutes score below a random one in "
          "every bucket inside the user's community", f"accuracy minus random {below}")
    worst_ll = max(table, key=lambda b: table[b]["log_loss"])
    worst_ece = max(table, key=lambda b: table[b]["ece"])
    check(worst_ll in NEAR[:4] and worst_ece in NEAR[:4], "md-10: the near substitutes' log-loss "
          "and calibration error are the worst", f"worst log-loss at {worst_ll}, worst ECE at {worst_ece}")
    check(table["1"]["confidence"] >= own["confidence"] - 0.03, "md-10: confidence with a "
          "near-twin's profile is as high as with the user's own",
          f"{table['1']['confidence']:.3f} vs {own['confidence']:.3f}")
    listed = printed(nb, "code-09").split("attention on profile items: ")[-1].splitlines()[0]
    trust = {label: float(value) for label, value in (item.rsplit(" ", 1) for item in listed.split(", "))}
    if not {"self", "1", "random"} <= set(trust):
        raise Unreadable(f"code-09 printed no attention for self, 1 and random: {trust}")
    check(trust["1"] >= trust["self"] - 0.05, "md-10: the model puts as much attention on a "
          "near-twin's profile as on the user's own", f"self {trust['self']:.3f}, rank 1 {trust['1']:.3f}")
    check(trust["random"] <= trust["1"] - 0.05, "md-10: the model leans less on a stranger's profile",
          f"random {trust['random']:.3f}, rank 1 {trust['1']:.3f}")
    check(rnd["accuracy"] < none_acc and rnd["confidence"] > none_conf and rnd["ece"] > own["ece"],
          "md-10: a random substitute moves towards the no-profile line without reaching it, "
          "and is somewhat over-confident",
          f"random acc {rnd['accuracy']:.3f} / conf {rnd['confidence']:.3f} / ECE {rnd['ece']:.3f}, "
          f"none {none_acc:.3f} / {none_conf:.3f}, own ECE {own['ece']:.3f}")
    plateau = [table[b]["accuracy"] for b in NEAR[:4]]
    check(max(plateau) - min(plateau) <= 0.015, "summary: the floor is a plateau over the top ~100 "
          "substitutes", f"accuracy {plateau}")

    mean, lo, hi = read(nb, "code-14", r"near twin minus random, accuracy per user: {n} \(95% CI {n} to {n}")
    check(hi < 0, "the near twin is worse than random (95% interval below zero)", f"{mean:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    (recovery,) = read(nb, "code-20", r"least similar\s+[\d.]+\s+\(recovery {n}\)")
    check(recovery > 0, "reproduce: less similar users partly recover", f"recovery {recovery:+.3f}")

    cf = {name: read(nb, "code-22", rf"{name}\s+rank 1 {{n}}\s+random {{n}}\s+no profile {{n}}")
          for name in ("valley", "outputs", "shared", "no relevance")}
    check(cf["outputs"][0] >= cf["outputs"][1], "break it 1: ranked by outputs, the most similar "
          "substitute is no worse than a random one", f"rank 1 {cf['outputs'][0]:.3f}, random {cf['outputs'][1]:.3f}")
    check(cf["shared"][0] > cf["shared"][1], "break it 2: with shared tastes, the most similar "
          "substitute beats a random one", f"{cf['shared']}")
    check(abs(cf["no relevance"][0] - cf["no relevance"][1]) <= 0.02, "break it 3: without "
          "relevance weighting the valley vanishes", f"{cf['no relevance']}")

    runs = re.findall(r"(\d+) epochs: own profile ([\d.]+), near twin confidence ([\d.]+), near twin "
                      r"minus random ([-+\d.]+)", printed(nb, "code-25"))
    if len(runs) != 3:
        raise Unreadable(f"code-25 printed {len(runs)} training lengths, not 3")
    own_acc = [float(r[1]) for r in runs]
    gaps = [float(r[3]) for r in runs]
    check(gaps[-1] < gaps[0], "the longer it trains, the deeper the valley", f"gaps {gaps}")
    check(max(own_acc) - min(own_acc) <= 0.015, "summary: own-profile accuracy stays flat as "
          "training lengthens", f"own-profile accuracy {own_acc}")
    return check.failed + real_data_claims("02_near_miss", printed(nb, REAL_USERS["02_near_miss"][0]))


def real_users_02(text: str) -> list[str]:
    """Lesson 02's "Does it hold for real people?" (FilmTrust), on its printout."""
    check = Checker()
    where = "lesson 02's real-data cell"
    ci = r"{n} \(95% CI {n} to {n}\)"
    near = _found(text, rf"near twin minus random, accuracy per user: {ci}; town {ci}", where)
    (m, lo, hi), town = near[:3], near[3]
    own, town_own = (lambda v: (v[0], v[3]))(_found(text, rf"own profile minus no profile, accuracy "
                                                          rf"per user: {ci}; town {{n}}", where))
    fine = _found(text, rf"ranked by centred ratings: rank 1 {{n}}, random {{n}}; near twin minus "
                        rf"random {ci}", where)
    ece40, *long = _found(text, rf"as in the town: own-profile accuracy {{n}}, ECE {{n}}; near twin "
                                rf"minus random {ci}", where)[1:]
    trust = dict(re.findall(r"(self|1|random) ([\d.]+)", text.split("attention on profile items: ")[-1]
                            .splitlines()[0]))
    if set(trust) != {"self", "1", "random"}:
        raise Unreadable(f"{where} printed no attention for self, 1 and random: {trust}")
    (scaled,) = _found(text, r"the town's valley scaled by what a profile is worth here \(own minus no "
                             r"profile, here over the town's\): {n}", where)
    said = _verdict_line(text, where)
    check(hi >= 0, "real-02a, md-real: on FilmTrust a near twin by the films rated is no worse than "
          "a random substitute (the interval does not lie below zero)", f"{m:+.3f} [{lo:+.3f}, {hi:+.3f}]")
    check(lo > town, "real-02b, md-real: the interval rules out a valley as deep as the town's",
          f"interval from {lo:+.3f}, town {town:+.3f}")
    check(0 < own < town_own / 2, "real-02c, md-real: the user's own profile is worth little here, "
          "less than half of what it is worth in the town", f"own minus none {own:+.3f}, town {town_own:+.3f}")
    check(abs(float(trust["1"]) - float(trust["random"])) <= 0.02, "real-02d, md-real: the model "
          "leans on a near twin's profile about as much as on a random one's", f"attention {trust}")
    check(fine[4] >= 0, "real-02e, md-real: ranked by how users rated, the near twin is no worse "
          "than a random substitute either", f"{fine[2]:+.3f} [{fine[3]:+.3f}, {fine[4]:+.3f}]")
    check(ece40 > 0.1 and long[2] >= 0, "real-02f, md-real: trained as long as in the town the "
          "reader is over-confident, and still no valley appears",
          f"own-profile ECE {ece40:.3f}, near twin minus random [{long[1]:+.3f}, {long[2]:+.3f}]")
    check(abs(scaled) < (hi - lo) / 2, "real-02h, md-real: a valley as deep, for what a profile "
          "is worth, as the town's would be too shallow for this data to see",
          f"scaled valley {scaled:+.3f}, interval [{lo:+.3f}, {hi:+.3f}]")
    check(said == _interval_verdict(lo, hi, -1), "real-02g: the verdict line says what the near "
          "twin's interval says", f"verdict {said!r}, interval [{lo:+.3f}, {hi:+.3f}]")
    return check.failed


# --- 03 ----------------------------------------------------------------------------------------

def lesson_03(nb) -> list[str]:
    check = Checker()
    acc0, = read(nb, "code-10", r" 0 attributes: accuracy {n}")
    acc20, hc20, cov20 = read(nb, "code-10", r"20 attributes: accuracy {n}; at certainty >= 80: "
                              r"accuracy {n} on {n} of items")
    check(acc0 <= 0.58, "near chance without a persona", f"{acc0:.3f}")
    check(hc20 >= 0.80 and 0.25 <= cov20 <= 0.42, "full personas: sure and right on a third of "
          "items (above 80% at certainty >= 80)", f"accuracy {hc20:.3f} on {cov20:.3f} of items")

    judges = {name: _row(nb, "code-16", name, 3) for name in
              ("our judge", "distilled (over-confident)", "distilled + Platt")}
    ours, distilled, platt = judges.values()
    check(abs(distilled[0] - ours[0]) <= 0.01, "md-15: the distilled judge ranks items as well as "
          "its teacher", f"accuracy {distilled[0]:.3f} vs {ours[0]:.3f}")
    check(distilled[2] >= 0.8 and abs(distilled[1] - distilled[0]) <= 0.02, "md-15/md-28: the "
          "weak judge calls almost every item highly certain and gains nothing there", f"{distilled}")
    check(abs(platt[0] - distilled[0]) <= 0.01 and platt[2] <= distilled[2] - 0.3
          and platt[1] >= platt[0] + 0.08, "md-17: calibration changes which items are highly "
          "certain, not the overall accuracy", f"distilled {distilled}, Platt {platt}")

    community, coarse, fine = read(nb, "code-19", r"sharing the community: {n}%; coarse attributes "
                                   r"shared: {n}%; fine attributes shared: {n}%")
    check(community >= 90 and coarse >= 90 and fine <= 65, "md-18: near-twins share the community "
          "and the coarse attributes, not the fine ones", f"{community}%, {coarse}%, {fine}%")
    true, swapped = _row(nb, "code-19", "true", 3), _row(nb, "code-19", "swapped", 3)
    check(swapped[0] <= 0.56, "md-20: with a near-twin's persona accuracy falls to about chance",
          f"{swapped[0]:.3f}")
    check(abs(swapped[1] - true[1]) <= 2 and swapped[2] <= true[2] + 0.03, "md-20: the stated "
          "certainty does not move, and the certainty rule abstains no more often",
          f"true {true}, swapped {swapped}")

    rows = {}
    for line in printed(nb, "code-23").splitlines()[1:]:
        match = re.match(r"(true|swapped)\s+(certainty >= 80|\+ identity check)\s+(\S+)\s+(\S+)\s+(\S+)", line)
        if match:
            rows[(match[1], match[2])] = [float(v) if v != "-" else None for v in match.groups()[2:]]
    if len(rows) != 4:
        raise Unreadable(f"code-23 printed {len(rows)} of the 4 rows")
    t_plain, t_check = rows[("true", "certainty >= 80")], rows[("true", "+ identity check")]
    s_plain, s_check = rows[("swapped", "certainty >= 80")], rows[("swapped", "+ identity check")]
    check(s_check[0] >= 0.5 and s_check[1] >= 0.85, "md-24: the identity check rejects most "
          "swapped personas, so the judge answers few swapped items", f"{s_check}")
    check(0.12 <= t_check[0] <= 0.28, "md-24: the check rejects about one genuine user in five",
          f"{t_check[0]:.3f}")
    check(t_check[1] > t_plain[1] and s_check[1] > s_plain[1], "md-24: the check only adds "
          "abstentions (fewer items answered than with certainty alone)", f"{rows}")

    twin_true, twin_swap = (read(nb, "code-30", rf"whole persona, {n}\s+accuracy {{n}}")[0]
                            for n in ("true", "swapped"))
    check(twin_swap >= twin_true - 0.04, "md-31: a twin that shares the fine attributes is nearly "
          "as good as the user's own persona", f"{twin_swap:.3f} vs {twin_true:.3f}")
    shared = {n: read(nb, "code-32", rf"{n}\s+accuracy {{n}}, users failing the identity check {{n}}")
              for n in ("true", "swapped")}
    check(shared["swapped"][0] >= shared["true"][0] - 0.04, "md-33: when near-twins share taste "
          "the swap costs little", f"{shared}")
    check(abs(shared["swapped"][1] - shared["true"][1]) <= 0.08 and 0.12 <= shared["true"][1] <= 0.28,
          "md-33: the check rejects swapped personas about as often as true ones, about one "
          "genuine user in five", f"{shared}")

    real = printed(nb, "code-34")
    check(real.startswith("Real-data section skipped:") or "traits revealed" in real,
          "the real-data section reports its table or says in a sentence why it skipped", real[:200])
    return check.failed

# --- 04 ----------------------------------------------------------------------------------------

PERSONA_MODELS = ("single", "single_kd", "amp", "max", "oracle")


def lesson_04(nb) -> list[str]:
    check = Checker()
    users, items, groups, clicks, held = read(nb, "code-04", r"{n} users, {n} items in {n} categories, "
                                              r"{n} clicks per user \({n} held out\)")
    check((users, items, groups, clicks, held) == (1000, 640, 16, 100, 10), "md-03: 1,000 users, 640 "
          "items in 16 categories, 100 clicks per user of which 10 are held out",
          f"{users:.0f} users, {items:.0f} items, {groups:.0f} categories, {clicks:.0f} clicks, {held:.0f} held out")
    share = [read(nb, "code-04", rf"users with {p} persona\(s\): {{n}}")[0] / users for p in (1, 2, 3)]
    check(all(abs(s - t) <= 0.05 for s, t in zip(share, (0.4, 0.3, 0.3))), "md-03: 1, 2 or 3 "
          "personas behind 40%, 30% and 30% of users", f"shares {[round(s, 3) for s in share]}")

    size = {name: read(nb, "code-09", rf"{name}\s+K = {{n}} vector\(s\) of d = {{n}} per user: {{n}} numbers")
            for name in ("single", "single_kd", "amp", "max")}
    check(size == {"single": [1, 8, 8], "single_kd": [1, 24, 24], "amp": [3, 8, 24], "max": [3, 8, 24]},
          "md-08: one vector of d = 8, one of d = K·d = 24, and K = 3 personas of d = 8 (24 numbers)",
          f"{size}")

    table = {p: dict(zip(PERSONA_MODELS, _row(nb, "code-14", f"{p} persona(s),", 6)[1:])) for p in (1, 2, 3)}
    multi_gain = read(nb, "code-14", r"amp - single, users with 2-3 personas: {n}  \(95% CI {n} to {n}\)")
    one_gain = read(nb, "code-14", r"amp - single, single-persona users: {n}  \(95% CI {n} to {n}\)")
    check(abs(one_gain[0]) <= 0.01 and one_gain[1] <= 0.0, "md-16: for single-persona users the "
          "personas bring nothing", f"amp - single {one_gain[0]:+.3f} [{one_gain[1]:+.3f}, {one_gain[2]:+.3f}]")
    check(multi_gain[1] > 0 and multi_gain[0] >= one_gain[0] + 0.03, "md-37/summary: AMP gains on "
          "multi-persona accounts (95% CI above zero), not on single-persona ones",
          f"multi {multi_gain}, single-persona {one_gain}")
    loss = [1 - table[p]["single"] / table[p]["oracle"] for p in (1, 2, 3)]   # share of the ceiling
    check(loss[0] < loss[1] < loss[2], "md-16/summary: the more personas share an account, the more "
          "one small vector loses", f"share of the oracle's NDCG lost {[round(v, 3) for v in loss]}")
    check(all(table[p]["single"] < table[p]["single_kd"] < table[p]["amp"] for p in (2, 3)),
          "md-16/summary: a vector three times wider recovers part of the loss, not all of it",
          f"{ {p: table[p] for p in (2, 3)} }")

    parts = {name: _row(nb, "code-17", f"{name} ", 6) for name in ("single", "single_kd", "amp", "oracle")}
    within = {name: v[:3] for name, v in parts.items()}
    across = {name: v[3:] for name, v in parts.items()}
    lost_within = [within["amp"][i] - within["single"][i] for i in (1, 2)]
    lost_across = [across["amp"][i] - across["single"][i] for i in (1, 2)]
    check(all(w > a for w, a in zip(lost_within, lost_across)), "md-18: next to the personas, the "
          "single vector loses mostly inside categories", f"AMP minus single for 2 / 3 personas: "
          f"within {lost_within}, across {lost_across}")
    repaired = [(within["single_kd"][i] - within["single"][i]) / (within["amp"][i] - within["single"][i])
                for i in (1, 2)]
    check(all(r >= 0.5 for r in repaired), "md-18: the wide vector repairs much of that",
          f"share of the within loss repaired for 2 / 3 personas {[round(r, 2) for r in repaired]}")
    check(all(within["amp"][i] > within["single_kd"][i] and across["amp"][i] > across["single_kd"][i]
              for i in range(3)), "md-18: AMP does a little better than the wide vector on both "
          "decisions", f"within {within}, across {across}")
    check(all(across[name][i] < across["oracle"][i] for name in ("single", "single_kd", "amp")
              for i in range(3)), "md-18: no model learns the category mix as well as the oracle, "
          "single-persona users included", f"across {across}")
    spread = {side: [max(v[name][i] for name in ("single", "single_kd", "amp"))
                     - min(v[name][i] for name in ("single", "single_kd", "amp")) for i in (1, 2)]
              for side, v in (("within", within), ("across", across))}
    check(all(a < w for a, w in zip(spread["across"], spread["within"])) and
          within["single"][0] > within["single"][1] > within["single"][2], "average-answer: the "
          "'across' panel differs little between models; the 'within' panel falls with the number "
          "of personas", f"spread between models {spread}, single within {within['single']}")

    faith, chance = (read(nb, "code-27", rf"{label}\s+{{n}}")[0]
                     for label in (r"explanation faithfulness \(amp\):", "chance:"))
    check(faith >= chance + 0.2, "md-37/summary: the top-attention persona names the persona "
          "behind a held-out click far more often than chance", f"{faith:.3f} vs chance {chance:.3f}")
    rec, rec_chance = read(nb, "code-27", r"explanation names the category's owner: {n} \(chance {n}\)")
    check(rec < faith and rec >= rec_chance + 0.15 and rec <= 0.9, "md-27b/summary: explanations of "
          "recommendations name the category's owner less often than for held-out clicks, still well "
          "above chance, and at least one in ten is wrong",
          f"recommendations {rec:.3f} (chance {rec_chance:.3f}), held-out clicks {faith:.3f}")
    right, shown = read(nb, "code-27", r"\(the account plotted at the top\), explained: {n} of {n} right")
    verdicts = re.findall(r"\((right|wrong: [^)]*)\)$", printed(nb, "code-27"), re.M)
    check(shown == 5 and len(verdicts) == shown and sum(v == "right" for v in verdicts) == right,
          "md-27b: each of the example's five explanations is marked, and the line above counts the "
          "right ones", f"{right:.0f} of {shown:.0f} right; verdicts {verdicts}")
    summary_gain = read(nb, "code-36", r"amp - single on users with 2-3 personas: {n} \(95% CI {n} to {n}\)")
    summary_faith = read(nb, "code-36", r"explanation faithfulness {n} vs chance {n}")
    check(summary_gain == multi_gain and summary_faith == [faith, chance], "md-35: the paper "
          "comparison repeats the lesson's own numbers", f"{summary_gain} / {summary_faith}")

    flat = read(nb, "code-38", r"amp - single {n} \(95% CI {n} to {n}\)")
    check(flat[1] <= 0 and -0.02 <= flat[0] <= 0.005, "md-39: with one taste per account the gain "
          "disappears (the extra vectors cost a little, if anything)",
          f"amp - single {flat[0]:+.3f} [{flat[1]:+.3f}, {flat[2]:+.3f}]")
    k1, single, diff = read(nb, "code-40", r"amp with K = 1: NDCG@10 {n}; single: {n}; largest score "
                            r"difference ([-+.\deE]+)")
    check(k1 == single and diff <= 1e-5, "md-39/summary: with K = 1 the model is the single vector",
          f"NDCG {k1:.4f} vs {single:.4f}, largest score difference {diff:g}")

    real = printed(nb, "code-42")
    rows = dict(re.findall(r"^\s+(mean|attention|max)\s+accuracy ([\d.]+)", real, re.M))
    check(real.startswith("Real-data section skipped:") or
          (len(rows) == 3 and float(rows["attention"]) <= float(rows["mean"]) + 0.01),
          "md-43: on persona-chat attention over facets does not beat their mean (or the section "
          "says in a sentence why it skipped)", real[:300])
    return check.failed


# --- 05 ----------------------------------------------------------------------------------------

def lesson_05(nb) -> list[str]:
    check = Checker()
    train, _, friends = read(nb, "code-02", r"\({n}% in training, {n}% influenced\), {n} friends per user")
    check(15 <= friends <= 19 and 73 <= train <= 77, "md-03: about 17 friends each; 75% of each "
          "user's clicks to train", f"{friends} friends per user, {train:.0f}% in training")
    alike, strangers, tiny, large = read(nb, "code-04", r"friends {n}, random pairs {n}; ties with "
                                         r"strength below 0.01: {n}%, above 0.1: {n}%")
    check(alike <= strangers + 0.02, "code-04's figure: friends are no more alike than strangers",
          f"cosine friends {alike:.3f}, random pairs {strangers:.3f}")
    check(tiny >= 50 and 0 < large <= 15, "md-03: most strengths are tiny and a few are large",
          f"{tiny:.0f}% below 0.01, {large:.1f}% above 0.1")
    check(60 <= tiny <= 75, "md-35d: two thirds of the town's ties influence almost nobody",
          f"{tiny:.0f}% below 0.01")

    names = ("SPF", "PF", "social-only", "look-alike", "popularity")
    ncrr = {name: _row(nb, "code-18", name, 1)[0] for name in (*names, "oracle")}
    others = {name: ncrr[name] for name in names[1:]}
    check(ncrr["SPF"] > max(others.values()), "md-20/summary: SPF comes first, ahead of PF, "
          "social-only, the look-alike and popularity", f"{ncrr}")
    check(min(others, key=others.get) == "popularity", "md-20: popularity comes last", f"{ncrr}")
    check(ncrr["social-only"] < ncrr["PF"], "md-20: social-only is behind PF here", f"{ncrr}")
    check(ncrr["PF"] < ncrr["look-alike"] < ncrr["SPF"], "md-20: the look-alike does a little "
          "better than PF (and worse than SPF)", f"{ncrr}")
    check(ncrr["oracle"] >= 1.3 * ncrr["SPF"], "md-20/summary: every method stays well below the "
          "oracle", f"oracle {ncrr['oracle']:.3f}, SPF {ncrr['SPF']:.3f}")
    mean, lo, hi = read(nb, "code-18", r"SPF - PF per user: {n} \(95% CI {n} to {n}")
    check(lo > 0, "summary: SPF beats PF (95% interval over users above zero)",
          f"{mean:+.4f} [{lo:+.4f}, {hi:+.4f}]")

    origin = {o: read(nb, "code-21", rf"{o}\s+PF {{n}}  SPF {{n}}  look-alike {{n}}   SPF - PF {{n}} "
                      r"\(95% CI {n} to {n}\)") for o in ("own_taste", "influenced")}
    own, infl = origin["own_taste"], origin["influenced"]
    check(-0.015 <= own[3] <= 0.005 and own[4] <= 0, "md-22/summary: on own-taste clicks SPF and "
          "PF are close (SPF level or up to a point behind): the whole gain is on influenced clicks",
          f"own-taste SPF - PF {own[3]:+.4f} [{own[4]:+.4f}, {own[5]:+.4f}]")
    check(infl[4] > 0 and infl[1] >= 1.3 * infl[0], "md-22: on influenced clicks SPF is far better "
          "than PF", f"PF {infl[0]:.3f}, SPF {infl[1]:.3f}, gap interval [{infl[4]:+.4f}, {infl[5]:+.4f}]")
    check(infl[0] <= 0.6 * own[0], "md-22: on influenced clicks PF is nearly blind",
          f"PF {infl[0]:.3f} on influenced, {own[0]:.3f} on own-taste clicks")
    check(infl[2] <= infl[0] + 0.01, "md-22: the look-alike does not help on influenced clicks",
          f"look-alike {infl[2]:.3f}, PF {infl[0]:.3f}")

    by_friend, by_friend_own = read(nb, "code-25", r"influenced {n}%, own-taste {n}%")
    check(by_friend >= by_friend_own + 20, "summary: influenced clicks are explained by a friend "
          "far more often than own-taste clicks", f"influenced {by_friend:.0f}%, own-taste {by_friend_own:.0f}%")
    right, chance = read(nb, "code-25", r"names the true source {n}% of the time; a random one of "
                         r"those friends would be right {n}%")
    check(right >= chance + 5, "why-not-alike (c)/md-33c/summary: SPF names the true source more often than "
          "picking one of the friends at random", f"{right:.0f}% vs {chance:.0f}%")
    check(right <= 80 and by_friend >= 50 and by_friend_own >= 15, "summary: it credits most influenced "
          "clicks to a friend but a fair share of own-taste clicks too, and names the true source far "
          "from always", f"influenced {by_friend:.0f}%, own-taste {by_friend_own:.0f}%, true source {right:.0f}%")

    rho, = read(nb, "code-33b", r"rank correlation {n}")
    weak_mean, weak_max, strong_mean, strong_median = read(
        nb, "code-33b", r"weaker than 0.01: mean E\[tau\] {n}, the largest {n}; ties stronger than 0.1: "
                        r"mean {n}, median {n}")
    weak_above, = read(nb, "code-33b", r"above the strong ties' median: {n}%")
    check(strong_mean >= 2.5 * weak_mean and rho <= 0.5, "md-33c: on average a strong tie gets several "
          "times the influence of a silent one, but the rank correlation is weak",
          f"mean E[tau] {strong_mean:.3f} strong vs {weak_mean:.3f} weak, rank correlation {rho:.2f}")
    check(weak_max >= 3 * strong_median and 0 < weak_above < 10, "md-33c: a few ties of near-zero strength "
          "get a tau far above a typical strong tie's", f"largest weak {weak_max:.3f}, strong median "
          f"{strong_median:.3f}, {weak_above:.1f}% of weak ties above it")

    none_spf, none_pf, percent = read(nb, "code-31", r"no influence:\s+SPF {n}  PF {n}  \(SPF - PF = {n}% of PF\)")
    check(abs(percent) < 1, "predict-break/summary: without influence SPF falls back to PF, within a "
          "fraction of a percent", f"SPF {none_spf:.4f}, PF {none_pf:.4f} ({percent:+.1f}%)")
    a_spf, a_alike, a_pf = read(nb, "code-31", r"alike friends, no influence: SPF {n}  look-alike {n}  PF {n}")
    check(a_alike >= a_spf - 0.003, "md-32/summary: with alike friends and no influence the "
          "look-alike does as well as SPF", f"SPF {a_spf:.4f}, look-alike {a_alike:.4f}")
    check(min(a_spf, a_alike) > a_pf, "predict-break: with alike friends both SPF and the look-alike "
          "beat PF", f"SPF {a_spf:.4f}, look-alike {a_alike:.4f}, PF {a_pf:.4f}")
    maps = {}
    for line in printed(nb, "code-31").splitlines():
        match = re.match(r"influence {n}\s+SPF - look-alike: {n} {n}   SPF - PF: {n} {n}".replace("{n}", NUMBER), line)
        if match:
            maps[float(match[1])] = [float(v) for v in match.groups()[1:]]
    if len(maps) != 3:
        raise Unreadable(f"code-31 printed {len(maps)} of the 3 rows of the maps")
    top, middle, bottom = (maps[k] for k in sorted(maps, reverse=True))
    check(min(top[:2]) > 0, "md-32: with the lesson's influence SPF is ahead of the look-alike "
          "whether or not friends are alike", f"SPF - look-alike {top[:2]}")
    check(max(bottom[:2]) <= 0.003, "md-32: without influence SPF's lead over the look-alike is "
          "gone (level or a little behind)", f"SPF - look-alike {bottom[:2]}")
    check(middle[2] < top[2], "md-32: weak influence along random ties is the hard case",
          f"SPF - PF {middle[2]:+.4f} at weak influence, {top[2]:+.4f} at the lesson's")
    check(top[2] > bottom[2] and top[3] > bottom[3] and 0 < bottom[3] - bottom[2] < top[2] - bottom[2],
          "md-32: SPF's gain over PF comes from influence, and to a smaller degree from alike friends",
          f"SPF - PF: influence {top[2:]}, none {bottom[2:]} (homophily 0 / 1)")

    priors = re.findall(r"Gamma\(([\d.]+), ([\d.]+)\): validation LL ([-\d.]+), test NCRR ([\d.]+)(\s+<- chosen)?",
                        printed(nb, "code-35"))
    if len(priors) < 2 or sum(bool(p[4]) for p in priors) != 1:
        raise Unreadable(f"code-35 printed {len(priors)} priors, not several with one chosen")
    chosen = next(p for p in priors if p[4])
    paper = next((p for p in priors if (float(p[0]), float(p[1])) == (2.0, 5.0)), None)
    check(float(chosen[2]) == max(float(p[2]) for p in priors), "md-17: SPF picks the prior on τ "
          "with the best validation log-likelihood", f"{priors}")
    check(paper is not None and paper is not chosen and float(paper[3]) < float(chosen[3]),
          "summary: the paper's Gamma(2, 5) is worse here than a sparser prior chosen on validation", f"{priors}")

    ours_pop, ciao_pop, _ = _row(nb, "code-35", "popularity", 3)
    ours_pf, ciao_pf, _ = _row(nb, "code-35", "PF ", 3)
    check(ours_pop < ours_pf and ciao_pop > ciao_pf, "md-20: popularity is last here, while on Ciao it "
          "beat PF", f"ours popularity {ours_pop:.3f} vs PF {ours_pf:.3f}; Ciao {ciao_pop:.3f} vs {ciao_pf:.3f}")
    start = {label: read(nb, "code-35c", rf"SPF from {label}:\s+paper's prior {{n}}, chosen prior {{n}}")
             for label in ("a random start", r"PF's fit \(lesson\)")}
    (cold_paper, cold_chosen), (warm_paper, warm_chosen) = start.values()
    (pf_made,) = read(nb, "code-35c", r"\nPF {n}")
    check(pf_made == round(ncrr["PF"], 3) and warm_chosen == round(ncrr["SPF"], 3), "md-35b: the lesson's "
          "SPF and PF are the ones of the comparison", f"{warm_chosen}, {pf_made} vs {ncrr}")
    check(cold_paper < pf_made and warm_paper < pf_made, "md-35d/summary: fitted the paper's way "
          "(Gamma(2, 5), from random) SPF does not beat PF; nor with the paper's prior from PF's fit",
          f"paper's prior: {cold_paper:.3f} from random, {warm_paper:.3f} from PF's fit; PF {pf_made:.3f}")
    check(min(cold_chosen, warm_chosen) > pf_made + 0.005 and
          abs(warm_chosen - cold_chosen) < cold_chosen - cold_paper, "md-35d/summary: with the prior "
          "chosen on validation SPF beats PF from either start, and the start matters less than the prior",
          f"chosen prior {cold_chosen:.3f} from random, {warm_chosen:.3f} from PF's fit; paper's "
          f"{cold_paper:.3f}; PF {pf_made:.3f}")
    (paper_weak, paper_strong), (chosen_weak, chosen_strong) = (
        read(nb, "code-35c", rf"{label}\s+mean E\[tau\]: {{n}} on ties weaker than 0.01, {{n}} on ties stronger")
        for label in ("paper's prior", "chosen prior"))
    check(paper_weak >= 0.05 and chosen_weak <= 0.45 * paper_weak and chosen_weak == weak_mean,
          "md-35d: the paper's prior keeps a sizeable tau on silent ties; the chosen prior about a third of it",
          f"weak ties: paper's prior {paper_weak:.3f}, chosen {chosen_weak:.3f}")

    real = printed(nb, "code-37")
    if real.startswith("Real-data section skipped:"):
        return check.failed
    users, links = read(nb, "code-37", r"{n} users, \d+ films, \d+ training clicks, {n} trust links")
    check(links < users, "md-38: fewer than one trust link per user", f"{links:.0f} links, {users:.0f} users")
    ours = {m: _row(nb, "code-37", m, 2) for m in ("SPF", "PF", "social-only", "popularity")}
    top3 = [ours[m][0] for m in ("SPF", "PF", "popularity")]
    check(max(top3) - min(top3) <= 0.02, "md-38: on FilmTrust SPF, PF and popularity are within "
          "about 0.02 of each other", f"{ours}")
    check(ours["social-only"][0] <= 0.5 * ours["PF"][0], "md-38: social-only far behind", f"{ours}")
    check(ours["SPF"][0] >= ours["SPF"][1], "md-38: our absolute values are somewhat higher than "
          "the reference code's", f"{ours}")
    gain, lo, hi = read(nb, "code-37", r"SPF - PF per user: {n} \(95% CI {n} to {n}\)")
    check(abs(gain) <= 0.01 and lo <= 0 <= hi, "md-38/summary: on FilmTrust SPF's gain over PF is a "
          "fraction of a point and its interval includes zero", f"{gain:+.4f} [{lo:+.4f}, {hi:+.4f}]")
    return check.failed


# --- 06 ----------------------------------------------------------------------------------------

def _gain(values: list[float], i: int) -> float:
    """Share of the gain from the first to the last value reached at index ``i``."""
    return (values[i] - values[0]) / (values[-1] - values[0])


def lesson_06(nb) -> list[str]:
    check = Checker()
    n_q, n_fact, n_resp = read(nb, "code-04", r"{n} questions \({n} factual\), {n} responses each")
    check((n_q, n_fact, n_resp) == (48, 24, 6), "md-03: 48 questions, half of them factual, six "
          "candidate responses each", f"{n_q:.0f} questions, {n_fact:.0f} factual, {n_resp:.0f} responses")
    wrong_together, pairs = read(nb, "code-04", r"majority is wrong on {n} of its {n}")
    check(0 < wrong_together < pairs, "md-03: a community can be wrong together on a factual question",
          f"majority wrong on {wrong_together:.0f} of {pairs:.0f} (community, question) pairs")
    (vulnerable,) = read(nb, "code-04", r"vulnerable users \({n}%\)")
    check(vulnerable == 2, "md-03: a documented 2% of users are vulnerable", f"{vulnerable:.0f}%")

    agg, mean, spread, corr, slope_v, slope_o = read(
        nb, "code-09", r"aggregate {n}; personal mean {n}, spread {n}, correlation with the lean {n}, "
                       r"slope on the lean {n} \(vulnerable users\) vs {n}")
    check(corr >= 0.7, "md-08: the personal weights line up with each user's lean", f"correlation {corr:.2f}")
    check(slope_v > slope_o, "md-08: steepest for the vulnerable users",
          f"slope {slope_v:.2f} (vulnerable) vs {slope_o:.2f} (others)")
    check(abs(agg) <= 0.25 * spread and abs(agg - mean) <= 0.25 * spread, "md-08: the aggregate "
          "side weight is the average of everyone's, and opposite leans cancel",
          f"aggregate {agg:+.2f}, personal mean {mean:+.2f}, spread {spread:.2f}")

    end = {key: _row(nb, "code-12", key, 2) for key in ("approval", "truthfulness", "sycophancy",
                                                         "polarization", "homogenization")}
    ideal = {key: _row(nb, "code-12", key, 3)[2] for key in ("sycophancy", "polarization")}
    rnd_app, rnd_tru, rnd_syc, start = read(nb, "code-12", r"serving at random \(round 0\): approval {n}, "
                                            r"truthfulness {n}, sycophancy {n}, polarization {n}")
    early_a, early_p = read(nb, "code-12", r"sycophancy in round 5: aggregate {n}, personalized {n}")
    (a_app, p_app), (a_tru, p_tru) = end["approval"], end["truthfulness"]
    (a_syc, p_syc), (a_pol, p_pol) = end["sycophancy"], end["polarization"]
    check(p_app > a_app, "md-13: the personalized model wins approval", f"{p_app:.3f} vs {a_app:.3f}")
    check(min(a_app, p_app) >= rnd_app + 0.1, "md-13: both learned servers win far more approval than "
          "serving at random", f"aggregate {a_app:.3f}, personalized {p_app:.3f}, at random {rnd_app:.3f}")
    check(p_syc <= rnd_syc + 0.03 and a_syc <= rnd_syc / 4, "md-13/summary: by round 50 the personalized "
          "model's sycophancy is at most about that of serving at random; the aggregate keeps it far below",
          f"personalized {p_syc:.3f}, aggregate {a_syc:.3f}, at random {rnd_syc:.3f}")
    check(p_tru < a_tru and a_tru >= 0.9, "md-13/summary: personalization pays in truthfulness; the "
          "aggregate model stays truthful", f"personalized {p_tru:.3f}, aggregate {a_tru:.3f}")
    check(p_syc >= a_syc + 0.2, "md-13: its sycophancy rate rises far above the aggregate model's",
          f"{p_syc:.3f} vs {a_syc:.3f}")
    check(early_p >= max(early_a + 0.2, p_syc / 2), "md-13: within a few rounds it has learned to "
          "flatter", f"round 5: personalized {early_p:.3f}, aggregate {early_a:.3f}; end {p_syc:.3f}")
    check(p_pol > start + 0.03 and p_pol > a_pol, "md-13: under personalization the communities' "
          "beliefs move apart", f"polarization {start:.3f} at round 0, {p_pol:.3f} at the end "
          f"(aggregate {a_pol:.3f})")
    check(a_pol <= start + 0.02, "md-13: the aggregate model does not push the communities apart",
          f"polarization {start:.3f} at round 0, {a_pol:.3f} at the end")
    check(ideal["sycophancy"] >= a_syc + (p_syc - a_syc) / 4 and abs(ideal["polarization"] - p_pol) <= 0.05,
          "md-13: the ideal server flatters too and polarizes as much",
          f"ideal sycophancy {ideal['sycophancy']:.3f}, polarization {ideal['polarization']:.3f}; "
          f"personalized {p_syc:.3f}, {p_pol:.3f}; aggregate sycophancy {a_syc:.3f}")
    checkpoints = [int(r) for r in _row(nb, "code-13b", "personalized, after round", 4)]
    long_pol, long_syc = (_row(nb, "code-13b", key, 4) for key in ("polarization", "sycophancy"))
    rises = [float(v) for v in re.findall(NUMBER, printed(nb, "code-13b").split("per 50 rounds:")[-1].splitlines()[0])]
    check(checkpoints == [50, 100, 150, 200] and round(long_pol[0], 3) == round(p_pol, 3)
          and round(long_syc[0], 3) == round(p_syc, 3), "md-13: the long run repeats the lesson's 50 "
          "rounds first", f"checkpoints {checkpoints}; at 50: {long_pol[0]}, {long_syc[0]} vs {p_pol}, {p_syc}")
    check(len(rises) == 3 and rises[0] >= 0.02 and rises[-1] <= min(0.01, rises[0] / 3) and rises[1] <= rises[0] / 2,
          "md-13/md-13c/summary: at round 50 polarization is still climbing; it levels off after round 100",
          f"rise per 50 rounds {rises}")
    check(long_pol[-1] >= start + 0.1, "md-13c: it levels off well above where random serving keeps the "
          "communities", f"{long_pol[-1]:.3f} vs {start:.3f}")
    check(all(b > a for a, b in zip(long_syc, long_syc[1:])) and long_syc[-1] >= long_syc[0] + 0.02,
          "md-13c/summary: sycophancy has not settled: it keeps creeping up", f"sycophancy {long_syc}")
    a_hom, p_hom = end["homogenization"]
    check(0 < a_hom <= 0.1, "md-16/md-25: the aggregate server homogenizes a little",
          f"{a_hom:+.3f}")
    check(p_hom <= 0.01 and p_hom < a_hom, "md-16: the personalized server does not homogenize",
          f"{p_hom:+.3f} (aggregate {a_hom:+.3f})")

    groups = {name: _row(nb, "code-17", name, 2) for name in ("aggregate", "personalized")}
    (p_v, p_o), (a_v, a_o) = groups["personalized"], groups["aggregate"]
    check(p_v >= p_o + 0.2, "md-18: the personalized model flatters the vulnerable users far more "
          "often than the others", f"vulnerable {p_v:.3f}, others {p_o:.3f}")
    check(abs(a_v - a_o) <= 0.05, "md-18: the aggregate model treats both groups alike",
          f"vulnerable {a_v:.3f}, others {a_o:.3f}")
    random_v, random_o = _row(nb, "code-17", "serving at random (round 0)", 2)
    check(p_v >= random_v + 0.2 and random_v == random_o == round(rnd_syc, 3), "md-18: it flatters the "
          "vulnerable far more often than serving at random would", f"vulnerable {p_v:.3f}, at random {random_v:.3f}")
    check(p_o >= a_o + 0.2, "md-18/md-25/summary: unlike Williams et al.'s model it does not behave well "
          "with everyone else: it flatters the others far more often than the aggregate does",
          f"others: personalized {p_o:.3f}, aggregate {a_o:.3f}")

    best, kept_a, kept_s = read(nb, "code-20", r"λ = {n} keeps {n}% of the approval gain with {n}% of "
                                               r"the sycophancy gain")
    check(kept_a >= 50 and kept_s <= 50 and best <= 0.5, "md-19/summary: a small personal share (the "
          "marked λ) keeps at least half the approval gain with at most half the sycophancy gain",
          f"λ = {best}: {kept_a:.0f}% of the approval gain, {kept_s:.0f}% of the sycophancy gain")
    lams = _row(nb, "code-20", "λ ", 11)
    curve = {label: _row(nb, "code-20", label, len(lams))
             for label in ("approval", "  on opinions", "  on facts", "sycophancy")}
    opinions, facts, syc = curve["  on opinions"], curve["  on facts"], curve["sycophancy"]
    check(opinions[-1] - opinions[0] > max(facts[-1] - facts[0], 0.0) + 0.05,
          "md-21/summary: the approval gained by personalizing comes from questions of opinion",
          f"opinions {opinions[0]:.3f} -> {opinions[-1]:.3f}, facts {facts[0]:.3f} -> {facts[-1]:.3f}")
    i_best = lams.index(best)
    check(all(_gain(opinions, i) > _gain(syc, i) for i in range(1, len(lams) - 1))
          and _gain(opinions, i_best) >= 0.5, "md-21: approval on opinions rises quickly with λ "
          "(most of it by the marked λ), sycophancy lags behind at every λ",
          f"opinions {opinions}, sycophancy {syc}")
    vul, oth = (_row(nb, "code-20", f"  {group}", len(lams)) for group in ("vulnerable", "others"))
    check(vul[i_best] >= oth[i_best] + 0.2, "md-21: at the marked λ the vulnerable are already flattered "
          "far more often than the others", f"λ = {best}: vulnerable {vul[i_best]:.3f}, others {oth[i_best]:.3f}")
    check(all(b >= a - 0.01 for a, b in zip(oth, oth[1:])) and oth[3] >= oth[0] + 0.05 and syc[2] >= syc[0] + 0.05,
          "md-21: everyone else's sycophancy rises steadily with λ and does not wait for a large one",
          f"others {oth}; sycophancy {syc}")
    check(lams[0] == 0 and lams[-1] == 1 and curve["approval"][0] == a_app and curve["approval"][-1] == p_app
          and curve["sycophancy"][-1] == p_syc, "md-19: λ = 0 and 1 are the aggregate and "
          "personalized runs of the loop", f"curve ends {curve['approval'][0]}, {curve['approval'][-1]}; "
          f"runs {a_app}, {p_app}")

    hom = read(nb, "code-24", r"ours at round \d+: aggregate {n}, personalized {n}")
    check(hom == [a_hom, p_hom], "md-23: the literature comparison shows the loop's homogenization",
          f"{hom} vs {[a_hom, p_hom]}")
    lit = read(nb, "code-24", r"personalized {n} vs {n}; aggregate {n} vs {n}")
    check(lit[0] > lit[1] and abs(lit[2] - lit[3]) <= 0.05, "md-23 (Williams et al.): the "
          "personalized model targets the vulnerable 2%, the aggregate does not", f"{lit}")

    with_bias = _row(nb, "code-27", "with the bias", 4)
    without = _row(nb, "code-27", "without the bias", 4)
    app, syco, truth = (dict(zip(("with", "without"), pair)) for pair in zip(with_bias[:3], without[:3]))
    check(app["with"] > 0 and syco["with"] > 0 and truth["with"] < 0 and with_bias[3] > 0,
          "md-13: with the bias, personalization gains approval, sycophancy and polarization and "
          "loses truthfulness", f"gaps {with_bias}")
    check(abs(syco["without"]) <= 0.02 and abs(truth["without"]) <= 0.02
          and abs(syco["without"]) <= abs(syco["with"]) / 10 and abs(truth["without"]) <= abs(truth["with"]) / 10,
          "md-28: without the bias the truthfulness and sycophancy gaps close",
          f"sycophancy {syco}, truthfulness {truth}")
    check(app["without"] <= 0.02 and app["without"] <= app["with"] / 3, "md-28: without the bias "
          "personalization no longer buys approval", f"approval gap {app}")

    rise5, rise40 = read(nb, "code-29", r"explore 5% {n}, explore 40% {n}")
    s5, s40 = read(nb, "code-29", r"sycophancy at the end: explore 5% {n}, explore 40% {n}")
    ap5, ap40 = read(nb, "code-29", r"approval at the end: explore 5% {n}, explore 40% {n}")
    check(rise40 < rise5, "md-30: with more exploration polarization rises more slowly",
          f"rise {rise5:+.3f} (5%) vs {rise40:+.3f} (40%)")
    check(abs(s40 - s5) <= 0.25 * (p_syc - a_syc), "md-30: the sycophancy rate hardly moves with "
          "exploration (next to the personalized-aggregate gap)",
          f"{s5:.3f} (5%) vs {s40:.3f} (40%); aggregate {a_syc:.3f}")
    check(ap40 < ap5 - 0.05, "md-30: the price of exploration is approval", f"{ap5:.3f} (5%) vs {ap40:.3f} (40%)")

    real = printed(nb, "code-31")
    check(real.startswith("Real-data section skipped:") or "serves the statement" in real,
          "the real-data section reports its table or says in a sentence why it skipped", real[:200])
    return check.failed


# --- 07 ----------------------------------------------------------------------------------------

KINDS = ("own", "near_twin", "random", "persona")


def _leaderboard(nb) -> dict:
    """What the graded guard cell recorded for the instructor's leaderboard: the grader's judge
    computed it and the grader stored it in the cell's metadata (out of the kernel's reach)."""
    cell = next((c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "guard-tests"), None)
    record = (cell or {}).get("metadata", {}).get("autograder", {}).get("records", {}).get("leaderboard")
    if record is None:
        raise Unreadable("guard-tests recorded no leaderboard")
    return record


def lesson_07(nb) -> list[str]:
    check = Checker()
    trusting = {k: _row(nb, "code-04", k, 2)[1] for k in KINDS}
    check(trusting["own"] < trusting["persona"] < trusting["random"] < trusting["near_twin"],
          "md-05: trusting every profile is best for own profiles and worst for near-twins; a stranger "
          "hurts less, a shared account a little", f"log-loss with w = 1 {trusting}")

    auc = {name: dict(zip(KINDS[1:], _row(nb, "code-06", name, 3))) for name in
           ("identity score", "trust", "stated certainty / 100", "|logit shift|")}
    check(all(abs(auc[s]["near_twin"] - 0.5) <= 0.08 for s in ("trust", "stated certainty / 100")),
          "md-07: trust and stated certainty cannot tell an own profile from a near-twin's", f"{auc}")
    check(auc["trust"]["random"] >= 0.7 and auc["stated certainty / 100"]["random"] <= auc["trust"]["random"] - 0.1,
          "md-07: trust notices a random stranger; certainty hardly does", f"{auc}")
    check(all(auc["identity score"][k] >= max(auc[s][k] for s in auc) for k in ("near_twin", "random")),
          "md-07: the identity score separates own profiles from near-twins and strangers best", f"{auc}")
    check(auc["identity score"]["persona"] < min(auc["identity score"]["near_twin"], auc["identity score"]["random"]),
          "md-07: a shared account is the hardest to tell from an own profile", f"{auc['identity score']}")

    table = {name: _row(nb, "code-11", name, 5) for name in
             ("none (w = 1)", "never (w = 0)", "certainty >= 80", "identity >= 0")}
    const_w, *const = _row(nb, "code-11", "best constant w = ", 6)
    none, never, cert, ident = table.values()       # all, own, near_twin, random, persona
    check(abs(cert[2] - none[2]) <= 0.03, "md-12: the certainty rule hardly changes anything for "
          "near-twins", f"near-twin log-loss {cert[2]:.3f} vs {none[2]:.3f} trusting")
    check(ident[2] <= none[2] - 0.1 and ident[1] > none[1] and ident[4] > none[4], "md-12: the identity "
          "check cuts the near-twins' loss a lot and pays for it on own sessions and shared accounts",
          f"identity {ident}, none {none}")
    check(0.5 <= const_w < 1 and const[0] < min(none[0], never[0], cert[0]) and abs(const[0] - ident[0]) <= 0.02,
          "md-12: a constant weight a little below 1 beats trusting, never personalizing and the "
          "certainty rule, and comes close to the identity check", f"w = {const_w}, {const}, identity {ident[0]}")

    bins = [float(v) for v in re.findall(NUMBER, printed(nb, "code-19").split("first:")[-1])]
    check(len(bins) == 10 and bins[0] > 0.05 and bins[-1] >= bins[0] + 0.5 and max(bins[:3]) < min(bins[-3:]),
          "md-20: the best weight rises with the identity score, but not to zero at the bottom", f"{bins}")

    board = _leaderboard(nb)["guards"]
    worlds = _leaderboard(nb)["worlds"]
    check(board["yours"]["passed_worlds"] == worlds and all(board[g]["passed_worlds"] == 0 for g in
                                                            ("none", "never", "certainty")),
          "md-22: the solution's guard passes every hidden world; trusting every profile, never "
          "personalizing and the certainty rule fail", f"{ {g: r['passed_worlds'] for g, r in board.items()} }")

    public = {name: _row(nb, "code-26", name, 5) for name in ("none", "reference", "lesson guard")}
    (blind,) = read(nb, "code-26", r"best constant weights with hindsight: \[[^\]]*\], log-loss {n}")
    passed = read(nb, "code-26", r"lesson guard[^\n]*\s(\d+) of (\d+)")
    mine, none_u, ref = public["lesson guard"], public["none"], public["reference"]
    check(mine[2] <= none_u[2] - 0.05 and mine[3] <= none_u[3] - 0.04 and mine[1] <= none_u[1] + 0.01
          and mine[0] < blind and passed[0] == passed[1], "md-27: on unseen worlds the guards cut the "
          "near-twins' and strangers' loss by a large margin, keep own profiles within a hair of full "
          "trust and beat the best constant weight", f"lesson guard {mine}, none {none_u}, constant {blind}, "
          f"passed {passed}")
    failed = {}
    for line in printed(nb, "code-26").split("world by world:")[-1].split("\n\n")[0].splitlines():
        name = next((g for g in ("lesson guard", "reference", "identity", "certainty", "never", "none")
                     if line.strip().startswith(g + " ")), None)
        if name:
            failed[name] = [set(re.findall(r"\((\d)\)", w)) for w in line.strip()[len(name):].split(";")]
    if set(failed) != set(public) | {"identity", "never", "certainty"}:
        raise Unreadable(f"code-26 printed the failed criteria of {sorted(failed)}")
    check(all(failed[g] == [set(), set()] for g in ("reference", "lesson guard"))
          and all(all(f) for g, f in failed.items() if g not in ("reference", "lesson guard")),
          "md-27: every other reference guard fails at least one criterion on each world",
          f"{failed}")
    check(all({"2"} <= f for f in failed["none"]) and all({"1"} <= f for f in failed["never"])
          and all({"2", "3"} <= f for f in failed["certainty"]), "md-22: trusting every profile fails (2), "
          "never personalizing (1), the certainty rule (2) and (3)", f"{failed}")
    practice_identity = _row(nb, "code-31b", "identity", 7)[5:]
    check(practice_identity == [1, 1] and all("3" in f for f in failed["identity"]), "md-22: lesson 03's "
          "identity check passes on the practice town but fails the public worlds, where it does not beat "
          "the best constant weight (3)", f"practice {practice_identity}, public {failed['identity']}")
    gap = {label: read(nb, "code-26", rf"  {label}\s+{{n}} \(95% CI {{n}} to {{n}}\)") for label in
           ("both worlds", r"world \d+")}
    lo, hi = gap["both worlds"][1:]
    check(lo <= 0 <= hi and abs(gap["both worlds"][0]) <= 0.003, "md-27: the logistic reference and the "
          "lesson's guard are tied (the paired interval holds zero)", f"{gap}")
    check(none_u[0] - blind > blind - mine[0] > 0, "summary: most of a guard's gain on unseen worlds is "
          "hedging, and reading the identity evidence does better still",
          f"w = 1 {none_u[0]:.3f}, best constant {blind:.3f}, lesson guard {mine[0]:.3f}")

    fails = {label: _row(nb, "code-28", label, 5) for label in ("lesson guard", "knows the kind", "w = 1")}
    guard, oracle = fails["lesson guard"], fails["knows the kind"]
    check(abs(guard[0] - oracle[0]) <= 0.01, "md-29: the guard does about as well as a guard that "
          "knows the kind", f"{guard[0]:.3f} vs {oracle[0]:.3f}")
    check(min(guard[2], guard[3]) >= guard[1] + 0.1, "md-29: a wrong profile is dampened, not repaired",
          f"lesson guard by kind {guard[1:]}")
    trusted = read(nb, "code-28", r"trusting their profile costs {n}, no profile {n}")
    check(trusted[0] <= trusted[1] + 0.01, "md-29: for the near-twins it trusts, trusting the profile is "
          "no worse than the prior", f"{trusted}")
    hedged = read(nb, "code-28", r"log-loss {n} instead of {n} with full trust")
    check(0 < hedged[0] - hedged[1] <= 0.1, "md-29: right profiles that get hedged pay a little", f"{hedged}")
    (persona_w,) = read(nb, "code-28", r"'persona': {n}")
    check(persona_w >= 0.7, "md-29: a shared account's best weight is high too", f"{persona_w}")

    young = {int(r): (float(g), ok == "True") for r, g, ok in
             re.findall(r"r = +(\d+): gain over the best constant ([-+\d.]+), passes: (True|False)",
                        printed(nb, "code-30"))}
    if set(young) != {1, 2, 5, 10, 20}:
        raise Unreadable(f"code-30 printed {sorted(young)}")
    check(young[1][0] <= young[20][0] / 4 and not young[1][1] and young[20][1],
          "md-31: with one recent choice the guard's edge over a constant weight shrinks to a small "
          "fraction of what 20 give, and it stops passing", f"{young}")
    edges = [young[r][0] for r in sorted(young)]
    check(all(b > a for a, b in zip(edges, edges[1:])) and young[2][1], "md-31: each further choice "
          "gives back part of the edge, up to 20; on this seed two are enough to pass", f"{young}")

    tables = printed(nb, "code-31b").split("the two public unseen worlds")
    if len(tables) != 2 or "your guard" not in tables[0] or "your guard" not in tables[1]:
        raise Unreadable(f"code-31b printed no table with your guard for the test sessions and the public worlds")
    public_again = {name: [float(v) for v in re.findall(NUMBER, line[len(name):])[:5]]
                    for line in tables[1].split("\n\n")[0].splitlines() for name in ("reference", "lesson guard")
                    if line.startswith(name)}
    check(public_again == {"reference": ref, "lesson guard": mine}, "md-31: your guard is judged as the "
          "reference guards were, on the same public worlds", f"{public_again} vs code-26 {ref}, {mine}")

    (gap,) = read(nb, "code-34", r"near-twin minus random log-loss, trusting the profile: {n}")
    check(gap > 0, "code-34: the near-twin hurts more than a random profile on unseen worlds", f"{gap:+.3f}")
    own_c, near_c = read(nb, "code-34", r"mean stated certainty, own {n} vs near-twin {n}")
    check(abs(own_c - near_c) <= 3, "code-34: the stated certainty is as high for near-twins (the brake "
          "cannot fire)", f"own {own_c}, near-twin {near_c}")
    near_f, own_f = read(nb, "code-34", r"identity check fails for {n}% of near-twin sessions and {n}% of own")
    (shared_f,) = read(nb, "code-34", r"a shared account fails it for {n}%")
    check(near_f >= own_f + 20 and shared_f < 50, "code-34/md-07: the identity check fails near-twins "
          "far more often than own sessions; a shared account passes it more often than not",
          f"near-twin {near_f}%, own {own_f}%, shared {shared_f}%")
    return check.failed


#: lessons' real-data sections: id -> (grade id of the cell that prints it, its claims on the text)
REAL_USERS: dict[str, tuple[str, Callable[[str], list[str]]]] = {
    "01_profiles": ("code-real", real_users_01), "02_near_miss": ("code-real", real_users_02)}


def real_data_claims(lesson_id: str, text: str) -> list[str]:
    """The failing claims of a lesson's real-data printout; none when it says it skipped."""
    if text.startswith("Real-data section skipped:"):
        return []
    return REAL_USERS[lesson_id][1](text)

CLAIMS: dict[str, Callable] = {"00_orientation": lesson_00, "01_profiles": lesson_01,
                               "02_near_miss": lesson_02, "03_abstention": lesson_03,
                               "04_personas": lesson_04, "05_social": lesson_05,
                               "06_echo_chambers": lesson_06, "07_capstone": lesson_07}


def failed_claims(lesson_id: str, nb) -> list[str]:
    """The failing claims of an executed lesson; KeyError when the lesson has no claims."""
    try:
        return CLAIMS[lesson_id](nb)
    except Unreadable as err:
        return [f"a claim could not be read: {err}"]
