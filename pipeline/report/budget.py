"""Token budget from the Chinchilla scaling-law fit.

Hoffmann et al. 2022 ("Training Compute-Optimal Large Language Models", arXiv:2203.15556,
Approach 3, eq. 10) fit the final pre-training loss of a model with N parameters trained on D
tokens as L(N, D) = E + A / N^alpha + B / D^beta with E = 1.69, A = 406.4, B = 410.7,
alpha = 0.34, beta = 0.28, and training compute C ~ 6 N D FLOPs. Minimizing L under a fixed C
gives N_opt = G (C/6)^a and D_opt = (C/6)^b / G with G = (alpha A / (beta B))^(1/(alpha+beta)),
a = beta/(alpha+beta), b = alpha/(alpha+beta). Given the tokens a run kept (each seen once),
inverting D_opt gives the model size and compute for which those tokens are the optimal amount.

The same paper's Approaches 1 and 2 give about 20 tokens per parameter at this scale; the
parametric fit allocates more tokens per parameter (Besiroglu et al. 2024, arXiv:2404.10102,
discuss the gap), so both are shown.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ScalingFit:
    """L(N, D) = E + A / N^alpha + B / D^beta; defaults: Hoffmann et al. 2022, Approach 3."""

    E: float = 1.69
    A: float = 406.4
    B: float = 410.7
    alpha: float = 0.34
    beta: float = 0.28

    def loss(self, params: float, tokens: float) -> float:
        return self.E + self.A / params**self.alpha + self.B / tokens**self.beta

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1.0 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        return self.alpha / (self.alpha + self.beta)


CHINCHILLA = ScalingFit()
TOKENS_PER_PARAM_RULE = 20.0  # Hoffmann et al. 2022, Approaches 1 and 2 (their Table 3)


@dataclass(frozen=True)
class TokenBudget:
    tokens: float
    params: float  # compute-optimal model size for these tokens (fit)
    flops: float  # C = 6 N D
    loss: float  # predicted L(N, D)
    rule_params: float  # N = D / 20
    rule_flops: float
    rule_loss: float

    @property
    def tokens_per_param(self) -> float:
        return self.tokens / self.params


def budget_for_tokens(tokens: float, fit: ScalingFit = CHINCHILLA) -> TokenBudget:
    """Compute-optimal N, C and predicted loss for a model trained once over `tokens` tokens."""
    if tokens <= 0:
        raise ValueError(f"token count must be positive, got {tokens}")
    c_over_6 = (tokens * fit.G) ** (1.0 / fit.b)  # invert D_opt = (C/6)^b / G
    params = fit.G * c_over_6**fit.a
    rule_params = tokens / TOKENS_PER_PARAM_RULE
    return TokenBudget(
        tokens=tokens,
        params=params,
        flops=6.0 * params * tokens,
        loss=fit.loss(params, tokens),
        rule_params=rule_params,
        rule_flops=6.0 * rule_params * tokens,
        rule_loss=fit.loss(rule_params, tokens),
    )
