"""Where a course keeps its folders and gradebook, read from its ``nbgrader_config.py``."""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader


@dataclass(frozen=True)
class Course:
    root: Path
    course_id: str
    source: Path
    submitted: Path
    autograded: Path
    feedback: Path
    db_url: str

    def with_db(self, db_url: str | None) -> "Course":
        return replace(self, db_url=db_url) if db_url else self

    def class_folders(self) -> list[Path]:
        """Folders that hold student work and grades: closed to everyone but the grader."""
        return [self.submitted, self.autograded, self.feedback]


def load(root: Path) -> Course:
    """The course rooted at ``root``; nbgrader's defaults where its config is silent."""
    root = Path(root).resolve()
    cfg = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config() \
        if (root / "nbgrader_config.py").exists() else None
    cd = cfg.CourseDirectory if cfg is not None else {}

    def folder(name: str, default: str) -> Path:
        return root / cd.get(name, default)

    return Course(
        root=root,
        course_id=cd.get("course_id", ""),
        source=folder("source_directory", "source"),
        submitted=folder("submitted_directory", "submitted"),
        autograded=folder("autograded_directory", "autograded"),
        feedback=folder("feedback_directory", "feedback"),
        db_url=cd.get("db_url", "sqlite:///" + os.path.join(root, "gradebook.db")),
    )


def nbgrader_config(root: Path) -> Config:
    """The course's own ``nbgrader_config.py`` (empty when there is none)."""
    return (PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
            if (Path(root) / "nbgrader_config.py").exists() else Config())
