"""The grader's side of tamper-evident test cells: what it sends the kernel, what it expects.

Before the first cell the grader installs ``kernel_guard`` in the kernel; before and after each
test cell it asks for a restore. Both requests travel as ``user_expressions`` of an empty,
silent execute request, which IPython evaluates without input or AST transformers, events or
the traceback printer. A reply without the token means the kernel's machinery was altered.
"""
from __future__ import annotations

import ast
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from IPython.core.inputtransformer2 import TransformerManager

GUARD_SOURCE = (Path(__file__).parent / "kernel_guard.py").read_text()


def new_token() -> str:
    return secrets.token_hex(16)


def install_expression(token: str, modules: list[str]) -> str:
    """Runs ``kernel_guard`` in a namespace of its own and installs it."""
    return (f"(lambda ns: (exec({GUARD_SOURCE!r}, ns), ns['install']({token!r}, {modules!r}))[1])"
            "({'__name__': '_autograder_guard'})")


def restore_expression(token: str) -> str:
    return f"__import__('sys').modules['_autograder_{token}'].guard.restore()"


def parse(reply: dict | None, token: str) -> list[str] | None:
    """What the kernel put back (``[]`` if nothing), or ``None`` if the answer is not genuine."""
    if not reply or reply.get("content", {}).get("status") != "ok":
        return None
    value = reply["content"].get("user_expressions", {}).get("guard", {})
    text = value.get("data", {}).get("text/plain", "") if value.get("status") == "ok" else ""
    try:
        answer = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    if not isinstance(answer, str) or not answer.startswith(token + "|"):
        return None
    rest = answer[len(token) + 1:]
    return [] if rest in ("", "installed") else rest.split(";")


def lesson_imports(sources: list[str]) -> list[str]:
    """The ``course`` modules a lesson's own code imports (its test cells included): the kernel
    imports them before the first cell, so that their pristine state is what gets restored."""
    found = {"course.checks"}
    manager = TransformerManager()
    for source in sources:
        try:
            tree = ast.parse(manager.transform_cell(source))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names if a.name.startswith("course.")}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("course."):
                    found.add(node.module)
                elif node.module == "course":  # `from course import plots`: maybe a module
                    found |= {f"course.{a.name}" for a in node.names}
    return sorted(found)


@dataclass
class Record:
    """What the guard saw during one notebook, for the review column."""

    restored: dict[str, list[str]] = field(default_factory=dict)  # test cell -> put back before it
    tampered: dict[str, list[str]] = field(default_factory=dict)  # test cell -> changed during it
    unanswered: list[str] = field(default_factory=list)  # test cells whose restore did not answer

    def findings(self) -> list[str]:
        out = []
        if self.restored:
            items = sorted({i for v in self.restored.values() for i in v})
            out.append(f"restored before tests: {', '.join(items[:8])}" + (" ..." if len(items) > 8 else ""))
        for cell, items in self.tampered.items():
            out.append(f"changed while {cell} ran (test failed): {', '.join(items[:5])}")
        if self.unanswered:
            out.append(f"the kernel did not answer the grader's restore before {', '.join(self.unanswered)} "
                       "(tests failed)")
        return out
