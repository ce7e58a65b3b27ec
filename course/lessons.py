"""The syllabus: every lesson's id, title and status."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["Lesson", "SYLLABUS", "ROOT", "get", "solution_path", "lesson_path"]

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lesson:
    id: str
    title: str
    reproduces: str

    @property
    def status(self) -> str:
        """'ready' when its solution notebook exists, else 'planned'."""
        return "ready" if solution_path(self.id).exists() else "planned"


SYLLABUS: tuple[Lesson, ...] = (
    Lesson("00_orientation", "The question, the town, and how grading works",
           "a nearest-neighbour table of users"),
    Lesson("01_profiles", "Building profiles: inputs vs outputs, episodic vs semantic memory",
           "outputs beat inputs under a budget; summaries beat recall under drift"),
    Lesson("02_near_miss", "Profile replacement by similarity rank: the near-twin valley",
           "the most similar substitute hurts more than a random one"),
    Lesson("03_abstention", "A personalized judge that states its certainty",
           "high-certainty accuracy above 80%; near-twins defeat abstention"),
    Lesson("04_personas", "Multi-persona users and candidate-conditioned attention",
           "gains over one taste vector for multi-taste users"),
    Lesson("05_social", "Friends with different tastes (Social Poisson Factorization)",
           "SPF beats PF, most on off-pattern items"),
    Lesson("06_echo_chambers", "Personalized vs aggregate reward models in a feedback loop",
           "more approval, more sycophancy and polarization"),
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


def solution_path(lesson_id: str) -> Path:
    return ROOT / "solutions" / lesson_id / f"{lesson_id}.ipynb"


def lesson_path(lesson_id: str) -> Path:
    return ROOT / "lessons" / lesson_id / f"{lesson_id}.ipynb"
