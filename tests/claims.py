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

__all__ = ["CLAIMS", "failed_claims", "printed", "Unreadable"]

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


CLAIMS: dict[str, Callable] = {"00_orientation": lesson_00, "01_profiles": lesson_01,
                               "02_near_miss": lesson_02, "03_abstention": lesson_03}


def failed_claims(lesson_id: str, nb) -> list[str]:
    """The failing claims of an executed lesson; KeyError when the lesson has no claims."""
    try:
        return CLAIMS[lesson_id](nb)
    except Unreadable as err:
        return [f"a claim could not be read: {err}"]
