"""The class's grading secret: where hidden seeds come from, and what signs the grader's records.

The course publishes ``solutions/``, hidden tests included, so nothing that must stay unknown to
students can be a constant there. Lesson 07's unseen worlds are drawn from seeds derived from a
secret that only the instructor holds: ``$COURSE_GRADING_SECRET`` names its file, by default
``~/.config/nearmiss-course/grading-secret`` (never inside the course's repository). Re-grades
read the same file and draw the same worlds. Without one, grading draws a new secret, saves it
there (mode 0600) and says so. The same secret signs what the judge records beside a score
(``sign``), so that a record copied or forged into a notebook is refused (``verify``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

ENV = "COURSE_GRADING_SECRET"
DEFAULT = Path("~/.config/nearmiss-course/grading-secret")


def path() -> Path:
    return Path(os.environ.get(ENV) or DEFAULT).expanduser()


def load() -> str | None:
    """The secret, or None if there is none yet."""
    where = path()
    if not where.is_file():
        return None
    text = where.read_text().strip()
    if len(text) < 32:
        raise ValueError(f"the grading secret in {where} is too short (at least 32 characters); "
                         "delete the file to draw a new one")
    return text


def load_or_draw() -> tuple[str, str | None]:
    """``(secret, note)``: the secret, and a sentence to show when a new one was drawn."""
    found = load()
    if found is not None:
        return found, None
    where = path()
    where.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    text = secrets.token_hex(32)
    fd = os.open(where, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
    return text, (f"no grading secret was set: drew one and saved it to {where} (keep it private "
                  f"and keep it: re-grades need the same one; set ${ENV} to use another file)")


def seeds(secret: str, assignment: str, name: str, n: int) -> list[int]:
    """``n`` seeds in [0, 2**32) for ``name`` of ``assignment``, derived from ``secret``."""
    key = secret.encode()
    return [int.from_bytes(hmac.new(key, f"seed|{assignment}|{name}|{i}".encode(),
                                    hashlib.sha256).digest()[:4], "big") for i in range(n)]


def sign(secret: str, payload: dict) -> str:
    """An HMAC of ``payload`` (canonical JSON) under ``secret``."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), allow_nan=True)
    return hmac.new(secret.encode(), b"record|" + text.encode(), hashlib.sha256).hexdigest()


def verify(secret: str, payload: dict, mac: str) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(sign(secret, payload), mac)
