"""Imports that need a word of care."""

from __future__ import annotations

import warnings


def import_arviz():
    """Import ArviZ without its one-time 'major refactor' FutureWarning on every CLI call.

    distillaw pins arviz<1.0 (pymc does too) and uses ``InferenceData``; the warning is about
    the 1.x migration and is not actionable for our users.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*ArviZ is undergoing a major refactor.*",
                                category=FutureWarning)
        import arviz as az
    return az
