from __future__ import annotations

import pytest

from distillaw import DistillawError, published
from distillaw.published import available


def test_all_sets_load_with_citations():
    names = available()
    assert {"busbridge2025", "chinchilla2022", "chinchilla2022-rounded", "epoch2024",
            "zhang2023"} <= set(names)
    for n in names:
        c = published(n)
        assert c.citation and c.url.startswith("https://arxiv.org/")
        assert c.parameters


def test_busbridge_table6_values_and_intervals():
    c = published("busbridge2025")
    assert c.ci_level == 0.90
    assert c.point()["c1"] == 522.6 and c.interval("c1") == (522.6, 522.6)
    assert c.interval("gamma_prime") == (0.732, 0.788)
    assert c.supervised() == {"E": 1.22, "A": 3355, "B": 18186, "alpha": 0.408, "beta": 0.431,
                              "gamma": 0.452}


def test_epoch_and_chinchilla():
    e = published("epoch2024")
    assert e.ci_level == 0.95 and e.interval("B") == (1042.357, 5810.344)
    ch = published("chinchilla2022")
    assert ch.supervised()["gamma"] == 1.0
    assert ch.point()["alpha"] == pytest.approx(0.33917084)
    assert published("chinchilla2022-rounded").point()["E"] == 1.69
    z = published("zhang2023").point()
    assert z == {"k": 2.5, "s": 1.0}


def test_unknown_set_is_a_clear_error():
    with pytest.raises(DistillawError, match="unknown published coefficient set 'nope'"):
        published("nope")
