"""What the ArviZ groups cost: time to compute them and the size of ``posterior.nc``.

One fit of Epoch AI's Chinchilla points (240 rows after dropping the 5 highest losses,
Chinchilla form, fit() defaults: nutpie, 4 chains x 1000 draws) with
``posterior_predictive=True``, then:

- time: the groups' seconds (prior draws, pointwise log-likelihood, posterior predictive;
  ``diagnostics()["groups_seconds"]``) against the sampling seconds of the same fit, and
  ``az.loo`` on the saved folder;
- size: ``posterior.nc`` saved with every group, without ``posterior_predictive``, and in
  the old format (posterior without the sampler's ``*__`` internals, sample_stats,
  constant_data), as ratios to the old format.

Run: ``PYTHONPATH=src .venv/bin/python bench/arviz_groups.py [--data PATH] [--error iid]``
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "epoch_chinchilla" / \
    "svg_extracted_data.csv"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--error", default="iid", choices=("iid", "structured"))
    ap.add_argument("--draws", type=int, default=1000)
    args = ap.parse_args()
    warnings.filterwarnings("ignore", message=".*BLAS.*")
    import distillaw as dl
    from distillaw._compat import import_arviz
    from distillaw.loaders import load
    from distillaw.posterior import Posterior

    az = import_arviz()
    df = load(args.data, drop_highest_loss=5)
    post = dl.fit(df, "supervised", form="chinchilla", error=args.error, draws=args.draws,
                  tune=args.draws, progressbar=False, posterior_predictive=True,
                  extrapolation="none")
    d = post.diagnostics()
    print(f"{len(df)} rows, {post.n_draws} draws, error={args.error}")
    print(f"sampling {d['sampling_seconds']:.1f} s, compile {d['compile_seconds']:.1f} s, "
          f"ArviZ groups {d['groups_seconds']:.2f} s "
          f"({d['groups_seconds'] / d['sampling_seconds']:.1%} of sampling)")
    idata = post.idata
    variants = {
        "all groups": idata,
        "no posterior_predictive": az.InferenceData(**{
            g: getattr(idata, g) for g in idata.groups() if g != "posterior_predictive"}),
        "old format": az.InferenceData(posterior=idata.posterior,
                                       sample_stats=idata.sample_stats,
                                       constant_data=idata.constant_data),
    }
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in variants.items():
            out = Path(tmp) / name.replace(" ", "_")
            Posterior(data, post.spec, data_hash=post.data_hash, diagnostics=d,
                      model_info=post.model_info).save(out)
            sizes[name] = (out / "posterior.nc").stat().st_size
        t0 = time.perf_counter()
        res = dl.loo(Path(tmp) / "all_groups")
        t_loo = time.perf_counter() - t0
    for name, size in sizes.items():
        print(f"posterior.nc, {name:24s} {size / 1e6:7.2f} MB  "
              f"({size / sizes['old format']:.2f}x old format)")
    print(f"dl.loo on the saved folder (load + PSIS-LOO): {t_loo:.2f} s; elpd_loo "
          f"{res.elpd_loo:.1f} (se {res.se:.1f}), p_loo {res.p_loo:.1f}, "
          f"{int((res.pareto_k > 0.7).sum())} rows with Pareto k > 0.7")


if __name__ == "__main__":
    main()
