"""The Chinchilla token budget (Hoffmann et al. 2022, Approach 3 fit)."""

from __future__ import annotations

import pytest

from pipeline.report.budget import CHINCHILLA, budget_for_tokens


def test_loss_of_chinchilla_70b_matches_the_fit():
    # L(70e9, 1.4e12) with E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28
    assert CHINCHILLA.loss(70e9, 1.4e12) == pytest.approx(1.9366, abs=1e-4)


@pytest.mark.parametrize("tokens", [2e9, 1.4e12, 15e12])
def test_model_size_is_compute_optimal_for_the_tokens(tokens):
    b = budget_for_tokens(tokens)
    assert b.flops == pytest.approx(6 * b.params * b.tokens)
    # at the same compute, any other split of C between N and D gives a higher predicted loss
    for f in (0.5, 0.8, 0.95, 1.05, 1.25, 2.0):
        n = b.params * f
        d = b.flops / (6 * n)
        assert CHINCHILLA.loss(n, d) > b.loss
    assert b.loss == pytest.approx(CHINCHILLA.loss(b.params, tokens))
    assert b.rule_params == pytest.approx(tokens / 20)


def test_more_tokens_give_larger_models_and_lower_loss():
    small, large = budget_for_tokens(1e10), budget_for_tokens(1e12)
    assert large.params > small.params and large.flops > small.flops and large.loss < small.loss
    with pytest.raises(ValueError):
        budget_for_tokens(0)
