"""The model specification: which law, which form, which priors. No data lives here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import ModelError, PriorError
from ..priors import (
    ERRORS,
    LAWS,
    LIKELIHOODS,
    default_error,
    prior_names,
    priors_from_dict,
    priors_to_dict,
)
from ..priors import FORMS as SUPERVISED_FORMS

CAPACITY_GAP_FORM = "power"  # N_T* = k N_S^s (the only capacity-gap form)
_KEYS = ("law", "form", "group", "likelihood", "priors", "group_params", "reference", "error")
# Specs saved before the error model existed had iid noise only: they load as "iid".
LEGACY_ERROR = "iid"


def default_form(law: str) -> str:
    """``busbridge`` for the loss laws (Busbridge's gamma form), ``power`` for capacity gap."""
    return CAPACITY_GAP_FORM if law == "capacity-gap" else "busbridge"


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: law, functional form, grouping, likelihood and prior overrides.

    Parameters
    ----------
    law : {"supervised", "distillation", "capacity-gap"}
    form : {"chinchilla", "busbridge"} or None
        Supervised-law form (also the student's supervised law inside the distillation
        model). ``None`` picks :func:`default_form`.
    group : str, optional
        Column of the run table to pool over (e.g. teacher family, data set): hierarchical
        model with the parameters in ``group_params`` varying by group, partially pooled.
    likelihood : {"student_t", "normal"} or None
        Noise model of log-loss. ``None``: Normal for the structured error model (which
        requires it), Student-t (the robust choice, the Bayesian analogue of the papers'
        Huber fits) for ``error="iid"``.
    priors : mapping name -> Prior (or its dict form)
        Overrides merged over :func:`distillaw.priors.default_priors`.
    group_params : tuple of str, optional
        Which parameters vary by group (supervised and distillation laws: default floor,
        both prefactors and both exponents, gamma shared; capacity gap: default the slope
        ``s`` and ``log_k_ref``).
    reference : mapping, optional
        ``{"N": ..., "D": ...}`` reference sizes; default: geometric means of the data.
    error : {"iid", "heteroscedastic", "structured", "gp"} or None
        Error model around the law (see :mod:`distillaw.models.error`). ``None`` (default):
        :func:`distillaw.priors.default_error`, ``"heteroscedastic"`` for the supervised and
        distillation laws, chosen by held-out coverage (see ``DEFAULT_ERROR``), ``"iid"``
        for the capacity gap. ``"iid"``: the law plus iid noise (old saved specs without
        ``error`` load as ``"iid"``).
        ``"heteroscedastic"``: independent noise whose scale changes with compute,
        ``sigma_i = sigma * exp(sigma_trend * log10(C_i / C_ref))`` (one more parameter,
        prior Normal(0, 0.3) per decade), for tables whose small runs are noisier than their
        large ones (Porian et al.'s IsoFLOP points: residual sd 0.12 at 1e16 FLOPs, 0.02 at
        6e18).
        ``"structured"`` (experimental): per-curve offsets and discrepancies that grow with
        distance in log compute (and in teacher loss) from the fitted data, integrated out
        exactly, with Normal noise. It is opt-in until it is validated on real tables: on
        Epoch's points with the top two budgets held out it covers more (90%: 0.82 vs 0.71)
        but with a worse interval score, and on the digitised Busbridge table it does not
        yet sample in reasonable time.
        ``"gp"`` (supervised law, opt-in): heteroscedastic noise plus a smooth
        Gaussian-process discrepancy ``f(log10 N, log10 D)`` added to the law
        (:mod:`distillaw.hsgp`): the law's systematic misfit near the data, reverting to its
        prior sd ``gp_eta`` away from it.
    """

    law: str
    form: str | None = None
    group: str | None = None
    likelihood: str | None = None
    priors: Mapping = field(default_factory=dict)
    group_params: tuple[str, ...] | None = None
    reference: Mapping[str, float] | None = None
    error: str | None = None

    def __post_init__(self):
        if self.error is None:
            object.__setattr__(self, "error", default_error(self.law))
        if self.error not in ERRORS:
            raise ModelError(f"unknown error model {self.error!r}; choose one of "
                             f"{', '.join(ERRORS)}")
        if self.likelihood is None:  # Normal noise for structured, robust t for iid
            # (the capacity-gap model pools its per-student curves itself: no extra terms)
            structured = self.error == "structured" and self.law != "capacity-gap"
            object.__setattr__(self, "likelihood", "normal" if structured else "student_t")
        if self.error == "structured" and self.likelihood != "normal" and \
                self.law != "capacity-gap":
            raise ModelError("the structured error model has Normal noise (its systematic "
                             "terms are integrated out exactly); pass likelihood='normal' or "
                             "error='iid'")
        if self.law not in LAWS:
            raise ModelError(f"unknown law {self.law!r}; choose one of {', '.join(LAWS)}")
        if self.error == "gp" and self.law != "supervised":
            raise ModelError(f"error='gp' (a Gaussian-process discrepancy in log N, log D) is "
                             f"for the supervised law; the {self.law} law takes error="
                             "'iid', 'heteroscedastic' or 'structured'")
        form = default_form(self.law) if self.form is None else self.form
        allowed = (CAPACITY_GAP_FORM,) if self.law == "capacity-gap" else SUPERVISED_FORMS
        if form not in allowed:
            raise ModelError(f"unknown form {form!r} for the {self.law} law; choose one of "
                             f"{', '.join(allowed)}")
        object.__setattr__(self, "form", form)
        if self.likelihood not in LIKELIHOODS:
            raise ModelError(f"unknown likelihood {self.likelihood!r}; choose one of "
                             f"{', '.join(LIKELIHOODS)}")
        if self.group_params is not None:
            if self.group is None:
                raise ModelError("group_params needs group=")
            object.__setattr__(self, "group_params", tuple(self.group_params))
        if self.reference is not None:
            bad = set(self.reference) - {"N", "D"}
            if bad or any(not float(v) > 0 for v in self.reference.values()):
                raise ModelError("reference must map 'N' and/or 'D' to positive sizes")
            object.__setattr__(self, "reference", {k: float(v) for k, v in
                                                   self.reference.items()})
        # Validate override names now (clear error before any data is read).
        overrides = priors_from_dict(priors_to_dict(self.priors or {}))
        valid = prior_names(self.law, form, self.likelihood, self.error)
        for name in overrides:
            if name not in valid:
                raise PriorError(f"unknown prior {name!r} for the {self.law} law; valid names: "
                                 f"{', '.join(valid)}")
        object.__setattr__(self, "priors", overrides)

    def to_dict(self) -> dict:
        """JSON-ready form (priors as ``Prior.to_dict()``)."""
        return {"law": self.law, "form": self.form, "group": self.group,
                "likelihood": self.likelihood, "priors": priors_to_dict(self.priors),
                "group_params": None if self.group_params is None else list(self.group_params),
                "reference": None if self.reference is None else dict(self.reference),
                "error": self.error}

    @classmethod
    def from_dict(cls, data: Mapping) -> ModelSpec:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - set(_KEYS)
        if unknown:
            raise ModelError(f"unknown model-spec keys: {', '.join(sorted(unknown))} "
                             f"(known: {', '.join(_KEYS)})")
        if "law" not in data:
            raise ModelError("model spec needs 'law'")
        d = dict(data)
        gp = d.get("group_params")
        d["group_params"] = None if gp is None else tuple(gp)
        d["priors"] = priors_from_dict(d.get("priors") or {})
        d.setdefault("error", LEGACY_ERROR)
        return cls(**d)

    def __eq__(self, other) -> bool:
        return isinstance(other, ModelSpec) and self.to_dict() == other.to_dict()

    __hash__ = None  # mutable-looking fields (priors); not hashable
