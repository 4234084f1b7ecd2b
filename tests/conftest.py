"""Hypothesis profiles: "default" (quick) unless HYPOTHESIS_PROFILE names another, e.g. "long"."""
import os

from hypothesis import settings

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("long", max_examples=2000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
