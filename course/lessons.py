"""The syllabus: every lesson's id, title and status, and where its experiments live."""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

__all__ = ["Lesson", "SYLLABUS", "ROOT", "get", "load", "solution_path", "lesson_path"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lesson:
    """One lesson.

    Attributes:
        id: the nbgrader assignment id, also the folder name in ``solutions/`` and ``lessons/``.
        title: shown by ``python -m course list`` and lesson 00.
        reproduces: the headline result, in words.
        experiment: ``"module:function"`` run by ``python -m course reproduce <id>``; it takes
            ``seed`` and returns a JSON-ready dict.
        benchmarks: name -> ``"module:function"`` timed by ``python -m course bench`` beside the
            notebooks; each takes no argument, runs on one thread and returns a JSON-ready dict.
    """

    id: str
    title: str
    reproduces: str
    experiment: str | None = None
    benchmarks: dict[str, str] = field(default_factory=dict)

    @property
    def status(self) -> str:
        """'ready' when its solution notebook exists, else 'planned'."""
        return "ready" if solution_path(self.id).exists() else "planned"


SYLLABUS: tuple[Lesson, ...] = (
    Lesson("00_orientation", "The question, the town, and how grading works",
           "a nearest-neighbour table of users", "course.similarity:reproduce"),
    Lesson("01_profiles", "Building profiles: inputs vs outputs, episodic vs semantic memory",
           "outputs beat inputs under a budget; summaries beat recall under drift",
           "course.memory:reproduce"),
    Lesson("02_near_miss", "Profile replacement by similarity rank: the near-twin valley",
           "the most similar substitute hurts more than a random one", "course.nearmiss:reproduce",
           {"near_miss_sweep": "course.nearmiss:benchmark"}),
    Lesson("03_abstention", "A personalized judge that states its certainty",
           "high-certainty accuracy above 80%; near-twins defeat abstention",
           "course.uncertainty:reproduce"),
    Lesson("04_personas", "Multi-persona users and candidate-conditioned attention",
           "gains over one taste vector for multi-taste users", "course.personas:reproduce"),
    Lesson("05_social", "Friends with different tastes (Social Poisson Factorization)",
           "SPF beats PF, most on off-pattern items", "course.social:reproduce",
           {"spf": "course.social:benchmark"}),
    Lesson("06_echo_chambers", "Personalized vs aggregate reward models in a feedback loop",
           "more approval, more sycophancy and polarization", "course.echo:reproduce",
           {"echo_loop": "course.echo:benchmark"}),
    Lesson("07_capstone", "A near-miss guard for a personalization system",
           "an evaluated guard on an unseen world"),
)


def get(lesson_id: str) -> Lesson:
    """The lesson with this id; ``ValueError`` listing the known ids otherwise."""
    for lesson in SYLLABUS:
        if lesson.id == lesson_id:
            return lesson
    known = ", ".join(lesson.id for lesson in SYLLABUS)
    raise ValueError(f"unknown lesson id {lesson_id!r}; known lessons: {known}")


def load(target: str) -> Callable:
    """The function named by ``"module:function"`` (imported on demand)."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)


def solution_path(lesson_id: str) -> Path:
    return ROOT / "solutions" / lesson_id / f"{lesson_id}.ipynb"


def lesson_path(lesson_id: str) -> Path:
    return ROOT / "lessons" / lesson_id / f"{lesson_id}.ipynb"
