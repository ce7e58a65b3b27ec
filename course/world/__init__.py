"""The simulated town that every lesson draws from.

``town`` makes the users, communities, tastes and histories (:func:`make_town`); later lessons
add facets of the *same* users in modules of their own, each generated from a town.
"""
from .town import Town, TownConfig, make_town, topic_usage

__all__ = ["TownConfig", "Town", "make_town", "topic_usage"]
