"""Helper library of the course "Do similar user profiles cause worse personalization errors?".

Lessons import what they need from the submodules: ``world`` (the simulated town),
``similarity``, ``checks`` (test helpers), ``widgets``, ``plots``, and later ``profiles``,
``models``, ``metrics``, ``nearmiss``. Importing ``course`` itself is cheap; it sizes thread
pools to the CPUs this process may use (:mod:`course.threads`).
"""
from . import threads as _threads

__version__ = "0.1.0"

_threads.configure()
