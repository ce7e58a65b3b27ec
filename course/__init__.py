"""Helper library of the course "Do similar user profiles cause worse personalization errors?".

Lessons import what they need from the submodules: ``world`` (the simulated town),
``similarity``, ``checks`` (test helpers), ``widgets``, ``plots``, and later ``profiles``,
``models``, ``metrics``, ``nearmiss``. Importing ``course`` itself is cheap.
"""
__version__ = "0.1.0"
