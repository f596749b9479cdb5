"""Presentation: number formatting, confidence words and the plain-words sentences about an
allocation, shared by :class:`~distillaw.decision.Allocation`, the report and the plots.

Only text is written here; nothing is computed (every number comes from the result
object), and nothing here imports the decision or planning packages. :func:`render` is the
one template renderer (jinja2; templates in ``distillaw/templates``) for the report's HTML
and Markdown.
"""

from __future__ import annotations

import functools

import numpy as np


def fmt_count(x: float | None, unit: str = "") -> str:
    """Human count: 2.1e9 -> '2.1B' (K, M, B, T; beyond 1000T in powers of ten).

    Example
    -------
    >>> fmt_count(999999999.99), fmt_count(4.8e10, "tokens"), fmt_count(3e17)
    ('1B', '48B tokens', '3e+17')
    """
    if x is None or not np.isfinite(x):
        return "n/a"
    x = float(f"{x:.3g}")                     # round first so 999.99M reads as 1B
    tail = f" {unit}" if unit else ""
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            v = x / div
            if v >= 1000:
                return f"{x:.3g}{tail}"
            return f"{v:.3g}{suffix}{tail}"
    return f"{x:.3g}{tail}"


def fmt_small(x: float) -> str:
    """A small non-negative quantity: 2 significant digits, or '< 1e-6'."""
    return "< 1e-6" if x < 1e-6 else f"{x:.2g}"


def fmt_flops(x: float) -> str:
    """'1e+21' -> '1.0e21 FLOPs'."""
    m, e = f"{x:.2e}".split("e")
    return f"{float(m):.3g}e{int(e)} FLOPs"


def confidence_words(p: float) -> str:
    """Which side wins and how surely, in words, for P(distillation beats supervised) = p."""
    q = max(p, 1 - p)
    word = ("near certain" if q >= 0.99 else "very likely" if q >= 0.95 else
            "likely" if q >= 0.8 else "more likely than not" if q >= 0.6 else "a coin flip")
    side = "distillation wins" if p >= 0.5 else "supervised wins"
    return side + ", " + word if word != "a coin flip" else word


def allocation_headline(a) -> str:
    """One sentence for an :class:`~distillaw.decision.Allocation`: what to do."""
    s = a.loss
    if a.kind == "supervised":
        return (f"Train supervised: a {fmt_count(a.N_S)}-parameter model on "
                f"{fmt_count(a.D_S)} tokens (loss {s['median']:.3f} nats).")
    if a.recommendation == "supervised":
        p = a.p_beats_supervised
        who = (f"the {fmt_count(a.supervised_N)} student" if a.student_fixed else
               f"a {fmt_count(a.supervised_N)} model")
        why = ("distillation is very unlikely to beat it here" if p < 0.05 else
               "distillation is unlikely to beat it here" if p < 0.2 else
               "distillation beats it less often than not" if p < 0.45 else
               "distillation is a toss-up here and supervised training is simpler")
        return (f"Train {who} supervised on {fmt_count(a.supervised_D)} tokens: {why} "
                f"(P(distillation beats supervised) = {p:.2f}).")
    if a.scenario == "best-case":
        teacher = (f"use an existing teacher of loss {a.L_T:.3f} nats "
                   f"(e.g. {fmt_count(a.N_T)} parameters trained on "
                   f"{fmt_count(a.D_T)} tokens)")
    elif a.scenario == "teacher-inference":
        teacher = (f"use a {fmt_count(a.N_T)} teacher trained on {fmt_count(a.D_T)} "
                   f"tokens (its training not charged)")
    else:
        teacher = f"train a {fmt_count(a.N_T)} teacher on {fmt_count(a.D_T)} tokens"
    student = ("the" if a.student_fixed else "a") + f" {fmt_count(a.N_S)} student"
    return (f"Distil: {teacher}, then distil {student} on {fmt_count(a.D_S)} tokens; "
            f"P(beats supervised) = {a.p_beats_supervised:.2f}.")


_NEAR_WORDS = (("N_S", "size", ""), ("N_T", "teacher", " parameters"),
               ("D_T", "teacher tokens", ""), ("D_S", "student tokens", ""))


def near_optimal_words(a) -> str | None:
    """The near-optimal set of an :class:`~distillaw.decision.Allocation` in words: each
    quantity's range over the allocations within ``optimal_tol`` nats of the best risk
    score, e.g. ``'teacher tokens 24.3B-100P ...'``; ``None`` when there is nothing to
    choose."""
    near = getattr(a, "near_optimal", None)
    if not near:
        return None
    parts = []
    for key, word, unit in _NEAR_WORDS:
        if key in near["ranges"]:
            lo, hi = near["ranges"][key]
            span = (fmt_count(lo) if fmt_count(lo) == fmt_count(hi) else
                    f"{fmt_count(lo)} to {fmt_count(hi)}")
            parts.append(f"{word} {key} {span}{unit}")
    return (", ".join(parts) + f" (every allocation in this set scores within "
            f"{near['tol']:g} nats of the best)")


def allocation_summary(a) -> str:
    """Plain-words summary of an :class:`~distillaw.decision.Allocation`: what to do, what
    loss to expect, how sure we are."""
    s, ci = a.loss, int(round(100 * a.ci))
    lines = [allocation_headline(a), ""]
    lines.append(f"Budget {fmt_flops(a.budget)}, scenario {a.scenario or 'supervised'}"
                 f", risk measure {a.risk} ({a.risk_label}), {a.n_draws} "
                 f"posterior draws.")
    if a.kind == "distillation":
        f = a.flops
        lines.append(
            f"Compute: student training {100 * f['student_training'] / a.budget:.0f}%, "
            f"teacher logits {100 * f['teacher_inference'] / a.budget:.0f}%, teacher "
            f"pretraining {100 * f['teacher_pretraining'] / a.budget:.0f}% of the budget"
            + (" (teacher pretraining not charged: "
               f"{fmt_flops(f['teacher_pretraining_uncharged'])})"
               if f.get("teacher_pretraining_uncharged") else "") + ".")
        lines.append(f"Distilled student loss: {s['median']:.3f} nats ({ci}% interval "
                     f"{s['lower']:.3f}-{s['upper']:.3f}); teacher loss "
                     f"{a.L_T:.3f}.")
        sv = a.supervised_loss
        lines.append(f"Supervised alternative ({fmt_count(a.supervised_N)} on "
                     f"{fmt_count(a.supervised_D)} tokens, same compute): "
                     f"{sv['median']:.3f} nats ({sv['lower']:.3f}-{sv['upper']:.3f}).")
        adv = a.advantage
        lines.append(f"Distillation is better by {adv['median']:+.4f} nats ({ci}% interval "
                     f"{adv['lower']:+.4f} to {adv['upper']:+.4f}); P(distillation beats "
                     f"supervised) = {a.p_beats_supervised:.2f} "
                     f"({confidence_words(a.p_beats_supervised)}).")
    else:
        lines.append(f"Loss: {s['median']:.3f} nats ({ci}% interval {s['lower']:.3f}-"
                     f"{s['upper']:.3f}).")
    if a.regret_draws is not None:
        lines.append(f"Expected regret against each draw's own optimum: "
                     f"{fmt_small(a.expected_regret)} nats; P(chosen allocation "
                     f"optimal, within {a.optimal_tol:g} nats) = {a.p_optimal:.2f}.")
    near = near_optimal_words(a)
    if near:
        lines.append(f"Near-optimal set: {near}.")
    lines += [f"Note: {w}" for w in a.warnings]
    return "\n".join(lines)


def new_teacher_words(tc) -> str | None:
    """What a new (invented) teacher would add over the best existing one, for a
    :class:`~distillaw.decision.TeacherChoice` with a comparison; ``None`` without."""
    n = tc.new
    if not n:
        return None
    cost = (f"its pretraining, {fmt_flops(n['pretraining_flops'])}, charged to the budget"
            if n["pretraining_charged"] else
            f"its pretraining, {fmt_flops(n['pretraining_flops'])}, not charged in this "
            f"scenario")
    gain = n["score_gain"]
    change = (f"lowers the {tc.risk} score by {gain:.4f} nats" if gain > 0 else
              f"raises the {tc.risk} score by {-gain:.4f} nats" if gain < 0 else
              f"leaves the {tc.risk} score unchanged")
    return (f"a new {fmt_count(n['N_T'])} teacher trained on {fmt_count(n['D_T'])} tokens "
            f"({cost}) {change} against {tc.best}; P(new beats {tc.best}) = "
            f"{n['p_new_beats_best']:.2f}")


def teacher_choice_headline(tc) -> str:
    """One sentence for a :class:`~distillaw.decision.TeacherChoice`: the existing teacher
    to distil from (or to train supervised), and what a new teacher would add."""
    b = tc.best_row
    p = tc.p_beats_supervised
    k = len(tc.table)
    of = f"of your {k} teachers" if k > 1 else "your one teacher"
    if p > 0.5:
        first = (f"With the teachers you have: distil the {fmt_count(tc.student)} student "
                 f"from {tc.best} ({of}; L_T {b['L_T']:.3f} nats, {b['L_T_source']}) on "
                 f"{fmt_count(b['D_S'])} tokens; P(beats supervised) = {p:.2f}.")
    else:
        who = f"the best of your {k} teachers" if k > 1 else "your one teacher"
        first = (f"With the teachers you have: {who}, {tc.best} (L_T {b['L_T']:.3f} "
                 f"nats), does not beat training the {fmt_count(tc.student)} student "
                 f"supervised (P(beats supervised) = {p:.2f}).")
    new = new_teacher_words(tc)
    return first + (f" By comparison, {new}." if new else "")


def teacher_choice_summary(tc) -> str:
    """Plain-words summary of a :class:`~distillaw.decision.TeacherChoice`."""
    ci = int(round(100 * tc.ci))
    lines = [teacher_choice_headline(tc), "",
             f"Budget {fmt_flops(tc.budget)}, scenario {tc.scenario} (existing teachers: "
             f"pretraining never charged, logits "
             f"{'charged' if tc.inference_charged else 'not charged'}), risk measure "
             f"{tc.risk} ({tc.risk_label}), {tc.n_draws} posterior draws."]
    for r in tc.table.to_dict(orient="records"):
        lines.append(f"- {r['teacher_id']}: L_T {r['L_T']:.3f} ({r['L_T_source']}), "
                     f"student loss {r['loss_median']:.3f} ({ci}% interval "
                     f"{r['loss_lower']:.3f}-{r['loss_upper']:.3f}) on "
                     f"{fmt_count(r['D_S'])} tokens, score {r['score']:.4f}, "
                     f"P(beats supervised) {r['p_beats_supervised']:.2f}")
    return "\n".join(lines)


@functools.cache
def _environment(html: bool):
    import jinja2

    # HTML: every value autoescaped (user strings such as the command line stay text).
    # Markdown: no escaping, block tags take their own line away (one output line per
    # template line).
    return jinja2.Environment(
        loader=jinja2.PackageLoader("distillaw", "templates"), autoescape=html,
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
        trim_blocks=not html, lstrip_blocks=not html)


def render(template: str, **context) -> str:
    """Render ``distillaw/templates/<template>``; ``*.html.j2`` templates autoescape."""
    return _environment(template.endswith(".html.j2")).get_template(template).render(**context)
