"""The class at a glance, per assignment: statistics of the totals, a histogram (PNG beside the
gradebook, and bars in the terminal), each question's difficulty, and who is missing.

Totals are what ``gradebook.scores`` calls ``total``: autograded points, written answers as
graded by hand so far, less the late penalty. Students whose written answers are pending are
counted with what they have so far, and the report says how many they are.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path

from . import gradebook
from .course_dir import Course

BAR = 30  # characters of the longest bar


@dataclass(frozen=True)
class Question:
    """One graded cell across the class: its mean score as a share of its points (over the
    students it was graded for), the shares with full and with zero marks, the number pending."""

    name: str
    kind: str  # auto or manual
    points: float
    mean: float
    full: float
    zero: float
    pending: int


@dataclass(frozen=True)
class ClassStats:
    assignment: str
    totals: dict[str, float]  # student -> total
    total_max: float
    questions: list[Question]  # hardest first
    missing: list[str]
    pending: int  # students with written answers not graded yet

    def edges(self) -> list[float]:
        """Histogram bin edges: one per point up to 20 points, else ten bins."""
        top = self.total_max or 1.0
        count = int(top) if top <= 20 and float(top).is_integer() else 10
        return [top * i / count for i in range(count + 1)]

    def counts(self) -> list[int]:
        edges = self.edges()
        counts = [0] * (len(edges) - 1)
        for total in self.totals.values():
            index = next((i for i in range(len(counts)) if total < edges[i + 1]), len(counts) - 1)
            counts[index] += 1
        return counts


def compute(course: Course, assignment: str) -> ClassStats:
    """The statistics of ``assignment`` as the gradebook holds it now."""
    table = gradebook.scores(course, assignment)
    names = sorted({name for row in table.values() for name in row["grades"]})
    questions = []
    for name in names:
        rows = [row["grades"][name] for row in table.values() if name in row["grades"]]
        graded = [(score, top) for score, top, _, pending in rows if not pending]
        points = rows[0][1] if rows else 0.0
        questions.append(Question(
            name, rows[0][2] if rows else "auto", points,
            statistics.fmean(s / t for s, t in graded) if graded and points else 0.0,
            sum(s >= t for s, t in graded) / len(graded) if graded else 0.0,
            sum(s <= 0 for s, _ in graded) / len(graded) if graded else 0.0,
            sum(pending for *_, pending in rows)))
    total_max = next(iter(table.values()))["total_max"] if table else 0.0
    return ClassStats(assignment, {s: row["total"] for s, row in table.items()}, total_max,
                      sorted(questions, key=lambda q: (q.pending == len(table), q.mean)),
                      sorted(gradebook.without_submission(course, assignment)),
                      sum(row["pending"] > 0 for row in table.values()))


def report(stats: ClassStats) -> str:
    """The statistics as text for the terminal and the log."""
    totals = list(stats.totals.values())
    if not totals:
        return f"{stats.assignment}: no graded submissions yet"
    lines = [f"{stats.assignment}: {len(totals)} graded, total of {stats.total_max:g}: mean "
             f"{statistics.fmean(totals):.2f}, median {statistics.median(totals):g}, sd "
             f"{statistics.pstdev(totals):.2f}, min {min(totals):g}, max {max(totals):g}"]
    if stats.pending:
        lines.append(f"  {stats.pending} with written answers not graded yet (counted with what they have)")
    edges, counts = stats.edges(), stats.counts()
    top = max(counts) or 1
    for i, count in enumerate(counts):
        closing = "]" if i == len(counts) - 1 else ")"
        lines.append(f"  [{edges[i]:>5g}, {edges[i + 1]:>5g}{closing} "
                     f"{'█' * round(BAR * count / top):<{BAR}} {count}")
    lines.append("  questions, hardest first (mean share of points; full marks; zero):")
    for q in stats.questions:
        pending = f"; {q.pending} pending" if q.pending else ""
        lines.append(f"    {q.name:<22} {q.kind:<6} {q.points:>4g} pts  mean {q.mean:>4.0%}  "
                     f"full {q.full:>4.0%}  zero {q.zero:>4.0%}{pending}")
    lines.append(f"  missing ({len(stats.missing)}): {', '.join(stats.missing) or 'nobody'}")
    return "\n".join(lines)


def plot(stats: ClassStats, path: Path) -> Path:
    """The histogram of totals as a PNG at ``path`` (readable by the grader only)."""
    from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    from matplotlib.ticker import MaxNLocator

    totals = list(stats.totals.values())
    fig = Figure(figsize=(6.4, 3.6), dpi=100)
    ax = fig.subplots()
    ax.hist(totals, bins=stats.edges(), color="#4878a8", edgecolor="white")
    if totals:
        mean = statistics.fmean(totals)
        ax.axvline(mean, color="#c44e52", linestyle="--", label=f"mean {mean:.2f}")
        ax.legend(frameon=False)
    pending = f", {stats.pending} with written answers pending" if stats.pending else ""
    ax.set(xlabel=f"total points (of {stats.total_max:g})", ylabel="students")
    ax.set_title(f"{stats.assignment}: {len(totals)} graded, {len(stats.missing)} missing{pending}",
                 fontsize=10)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    fig.savefig(path)
    return path


def png_path(course: Course, assignment: str) -> Path:
    return course.submitted.parent / f"stats-{assignment}.png"
