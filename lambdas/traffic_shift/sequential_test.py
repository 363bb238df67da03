"""The statistics of the traffic shift: is the challenger better, is it harmful, or is it too early to say.

Pure Python (`math` only, no AWS): the function has neither numpy nor scipy. (Not named
`statistics`: at the Lambda package root it would shadow the standard library's module.)

Method: a mixture sequential probability ratio test (mSPRT)
-----------------------------------------------------------
Johari, Koomen, Pekelis, Walsh, "Peeking at A/B Tests" (KDD 2017) and "Always Valid Inference"
(Operations Research 2022). The quantity tested is the difference of the success rates
theta = p_challenger - p_champion, estimated by theta_hat with variance V (normal approximation of the
difference of two proportions). The test statistic is the likelihood ratio of "theta" against
"theta = 0", mixed over a half-normal prior of scale tau on the side being tested:

    Lambda = 2 * sqrt(V / (V + tau^2)) * exp(tau^2 theta_hat^2 / (2 V (V + tau^2)))
               * Phi(tau * theta_hat / sqrt(V (V + tau^2)))          (theta_hat -> -theta_hat for "less")

Under the null hypothesis (the challenger is not better) Lambda is a nonnegative supermartingale of
mean <= 1, so by Ville's inequality P(Lambda ever reaches 1/alpha) <= alpha, *however often and
whenever it is looked at*. Lambda is an e-value; min(1, 1/Lambda) is an always-valid p-value. This
is exact for normal data of known variance; for counts it rests on the normal approximation and an
estimated V, which is what the simulations below check.

Why this and not an alpha-spending group-sequential design: the function is stateless and runs on a
schedule whose looks are neither planned in number nor equal in size (traffic varies by the hour,
runs are skipped while the endpoint updates); a spending function needs the information fraction of
every look and the alpha spent so far. The mSPRT needs only the cumulative counts at the current
look, so each hourly invocation recomputes it from CloudWatch alone.

Choices, each checked by the simulations of tests/lambdas/test_traffic_shift_statistics.py:
- One-sided mixtures: "promote" tests theta > 0 at `alpha`; the harm guardrails test the other side
  (challenger success rate lower, challenger 5xx rate higher), each at `alpha` too. A business metric
  of which less is better (refunds, complaints per invocation) swaps the two business-metric tests:
  "promote" tests theta < 0 and the guardrail theta > 0. The tests themselves are the same, each side
  with its own one-sided mixture, so the figures below hold for either direction.
- V is the variance under the null hypothesis, from the pooled rate: p(1 - p)(1/n_champion +
  1/n_challenger). With rare events and unequal traffic (0.2 % successes, 10 % of the traffic on the
  challenger) the unpooled plug-in variance underestimates V while the small variant has seen few
  events: its false "success lower" rate reached 10 % at alpha = 0.05, the pooled one's 0.2 % (A/A
  figures below). Rates are smoothed, (x + 0.5) / (n + 1), so that V > 0 before the first event.
- tau = (z_{1-alpha} + z_{0.80}) * sqrt(2 p(1 - p) / n_min): the difference that a one-sided
  fixed-horizon test with the minimum sample size per variant detects with 80 % power. The mixture
  is most sensitive to effects of the size the minimum sample size is meant to find.
- A minimum sample size per variant (MIN_SAMPLES_PER_VARIANT) before any decision: the normal
  approximation needs it, and nobody wants a rollback after the first dozen requests.
- p99 latency is a ratio guardrail, not a test: CloudWatch gives the percentile, not the samples.

Measured (tests/lambdas/test_traffic_shift_statistics.py: seeded Monte-Carlo, binomial traffic,
a look at the cumulative counts after every hour, alpha = 0.05, n_min = 1000; the tests assert these
within Monte-Carlo error, run them with `-s` to print them):
- A/A at the cap, 10 % success rate, 200 + 200 invocations an hour (a 400/h endpoint at 50/50),
  1000 runs: the promotion test crossed in 1.4 % of them within 24 hourly looks and in 2.5 % within
  168 (a week, the default LOOKBACK_HOURS; Monte-Carlo standard error 0.5 %). A naive fixed-horizon
  z-test looked at as often "found" a difference in 17.2 % and 29.8 % of the same experiments.
- A/A at the initial 10 % (900 + 100 an hour, 168 looks, 500 runs each, standard error about 1 %):
  with a 10 % success rate and 0.2 % 5xx, false "success lower" 1.6 %, "5xx higher" 3.6 %,
  "success higher" 2.0 %; with rare successes (0.2 %) 0.2 %, 2.4 % and 4.2 %. The unpooled variance
  gave 10 % false "success lower" in the rare case, which is why V is pooled.
- A/B at the cap, 10 % -> 12 % (a 20 % relative lift), 500 runs: power 69.8 % within 24 looks
  (4,800 invocations per variant) and 100 % within 168; median 3,400 invocations per variant to
  promote (17 hours), 90th percentile 7,200. No run rolled back.
- A/B at the cap, 10 % -> 11 % (a 10 % lift), 500 runs: power 14.4 % within 24 looks, 93.2 % within
  168; median 13,000 invocations per variant (65 hours), 90th percentile 26,200.
- Harm at the initial 10 %, success 10 % -> 8 %, 500 runs: rolled back in 100 % of them, median
  1,800 challenger invocations (18 hours at 100 an hour); none promoted.
For comparison, a fixed-horizon one-sided test needs about 3,000 per variant for 80 % power at
10 % -> 12 %, but may be looked at once only.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from lambdas.common.contracts import HIGHER_IS_BETTER
from lambdas.common.contracts import Direction as MetricDirection

# Beyond this, exp() overflows; an e-value of e^700 is as decisive as any larger one.
_MAX_LOG_E_VALUE = 700.0
_SQRT2 = math.sqrt(2.0)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# The power at which tau is tuned (see the module docstring).
MIXING_POWER = 0.8


class Direction(StrEnum):
    """The side of theta = p_challenger - p_champion a test looks for."""

    GREATER = "greater"  # the challenger's rate is higher
    LESS = "less"  # the challenger's rate is lower


@dataclass(frozen=True)
class Counts:
    """`successes` out of `trials` Bernoulli trials of one variant."""

    successes: int
    trials: int

    def __post_init__(self) -> None:
        if not 0 <= self.successes <= self.trials:
            raise ValueError(f"need 0 <= successes <= trials, got {self.successes} of {self.trials}")

    @property
    def rate(self) -> float:
        return self.successes / self.trials if self.trials else 0.0


@dataclass(frozen=True)
class SequentialTest:
    """One look of a one-sided mSPRT on challenger - champion."""

    direction: Direction
    difference: float  # observed p_challenger - p_champion
    standard_error: float  # sqrt(V), pooled
    z: float  # difference / standard_error
    mixing_sd: float  # tau
    e_value: float  # Lambda

    @property
    def p_value(self) -> float:
        """Always-valid p-value: P(Lambda ever this large | null) <= this."""
        return min(1.0, 1.0 / self.e_value) if self.e_value > 0 else 1.0

    def rejects(self, alpha: float) -> bool:
        return self.e_value >= 1.0 / alpha


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / _SQRT2)


def normal_quantile(probability: float) -> float:
    """Inverse of `normal_cdf` by bisection (called once per design, so speed does not matter)."""
    if not 0.0 < probability < 1.0:
        raise ValueError(f"probability must be in (0, 1), got {probability}")
    low, high = -40.0, 40.0
    for _ in range(200):
        middle = (low + high) / 2
        if normal_cdf(middle) < probability:
            low = middle
        else:
            high = middle
    return (low + high) / 2


def _log_normal_cdf(x: float) -> float:
    if x > -30.0:
        return math.log(normal_cdf(x))
    # erfc underflows below about -37; the asymptotic tail is exact to 0.1 % from -30 on.
    return -0.5 * x * x - math.log(-x) - _LOG_SQRT_2PI


def pooled_rate(champion: Counts, challenger: Counts) -> float:
    """The smoothed common rate under the null hypothesis: strictly between 0 and 1."""
    return (champion.successes + challenger.successes + 0.5) / (champion.trials + challenger.trials + 1)


def msprt(champion: Counts, challenger: Counts, *, direction: Direction, mixing_sd: float) -> SequentialTest:
    """The mixture likelihood ratio of a difference in `direction` (module docstring, formula)."""
    if champion.trials == 0 or challenger.trials == 0:
        raise ValueError("each variant needs at least one trial")
    if mixing_sd <= 0:
        raise ValueError(f"mixing_sd must be positive, got {mixing_sd}")
    rate = pooled_rate(champion, challenger)
    variance = rate * (1 - rate) * (1 / champion.trials + 1 / challenger.trials)
    difference = challenger.rate - champion.rate
    signed = difference if direction is Direction.GREATER else -difference
    tau2 = mixing_sd * mixing_sd
    log_e_value = (
        math.log(2.0)
        + 0.5 * math.log(variance / (variance + tau2))
        + tau2 * signed * signed / (2 * variance * (variance + tau2))
        + _log_normal_cdf(mixing_sd * signed / math.sqrt(variance * (variance + tau2)))
    )
    standard_error = math.sqrt(variance)
    return SequentialTest(
        direction=direction,
        difference=difference,
        standard_error=standard_error,
        z=difference / standard_error,
        mixing_sd=mixing_sd,
        e_value=math.exp(min(log_e_value, _MAX_LOG_E_VALUE)),
    )


@dataclass(frozen=True)
class Design:
    """What a decision needs to be taken: sample size, error rate, latency tolerance."""

    min_samples: int = 1000
    alpha: float = 0.05
    latency_ratio_limit: float = 1.5
    # z_{1-alpha} + z_{power}: the scale of tau in standard errors at the minimum sample size.
    _mixing_z: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if not 0.0 < self.alpha < 0.5:
            raise ValueError(f"alpha must be in (0, 0.5), got {self.alpha}")
        if self.latency_ratio_limit < 1.0:
            raise ValueError(f"latency_ratio_limit must be >= 1, got {self.latency_ratio_limit}")
        object.__setattr__(self, "_mixing_z", normal_quantile(1 - self.alpha) + normal_quantile(MIXING_POWER))

    def mixing_sd(self, rate: float) -> float:
        """tau for a common rate `rate` (module docstring)."""
        return self._mixing_z * math.sqrt(2 * rate * (1 - rate) / self.min_samples)

    def test(self, champion: Counts, challenger: Counts, direction: Direction) -> SequentialTest:
        return msprt(
            champion, challenger, direction=direction, mixing_sd=self.mixing_sd(pooled_rate(champion, challenger))
        )


@dataclass(frozen=True)
class VariantSample:
    """What CloudWatch says about one variant over the evidence window."""

    invocations: int
    errors_5xx: int
    successes: int  # of the business metric; its trials are the invocations
    p99_latency_us: float | None  # ModelLatency p99, microseconds; None without datapoints

    @property
    def success(self) -> Counts:
        return Counts(self.successes, self.invocations)

    @property
    def errors(self) -> Counts:
        return Counts(self.errors_5xx, self.invocations)


class Verdict(StrEnum):
    INSUFFICIENT = "insufficient"  # fewer than min_samples invocations in a variant
    HARMFUL = "harmful"  # a guardrail fired: roll back
    BETTER = "better"  # significantly better success rate: promote
    INCONCLUSIVE = "inconclusive"  # none of these (yet)


@dataclass(frozen=True)
class Assessment:
    """The verdict on one look, with every test behind it (for the audit record)."""

    verdict: Verdict
    reasons: tuple[str, ...]
    # The business metric's rate, challenger better (higher; lower when lower is better): promotion ...
    better: SequentialTest
    # ... and challenger worse (lower; higher when lower is better): a guardrail.
    worse: SequentialTest
    more_errors: SequentialTest  # 5xx rate, challenger higher
    latency_ratio: float | None  # challenger p99 / champion p99
    promotion_tested: bool
    direction: MetricDirection  # of the business metric

    def rate_test(self, side: Direction) -> SequentialTest:
        """The business-metric test of one side, whichever role the metric's direction gives it."""
        return self.better if self.better.direction is side else self.worse


def assess(
    champion: VariantSample,
    challenger: VariantSample,
    design: Design,
    *,
    test_promotion: bool = True,
    direction: MetricDirection = HIGHER_IS_BETTER,
) -> Assessment:
    """The verdict of one look at cumulative evidence; both variants need at least one invocation.

    Harm is checked before benefit: a challenger that is better on the business metric but fails
    more often or too slowly is rolled back. `test_promotion=False` reports the promotion test
    without acting on it (the caller's policy says this look may not promote). `direction` says
    whether a higher business-metric rate is better (successes) or a lower one (refunds): it decides
    which of the two one-sided tests promotes and which rolls back.
    """
    champion_success, challenger_success = champion.success, challenger.success
    higher = design.test(champion_success, challenger_success, Direction.GREATER)
    lower = design.test(champion_success, challenger_success, Direction.LESS)
    better, worse = (higher, lower) if direction == HIGHER_IS_BETTER else (lower, higher)
    more_errors = design.test(champion.errors, challenger.errors, Direction.GREATER)
    latency_ratio = (
        challenger.p99_latency_us / champion.p99_latency_us
        if challenger.p99_latency_us is not None and champion.p99_latency_us  # None or 0: no ratio
        else None
    )

    def verdict(kind: Verdict, *reasons: str) -> Assessment:
        return Assessment(kind, reasons, better, worse, more_errors, latency_ratio, test_promotion, direction)

    def rate_change(test: SequentialTest) -> str:
        """The business metric's change a test looks for, in words, with the rates it saw."""
        side = "higher" if test.direction is Direction.GREATER else "lower"
        rates = f"{challenger_success.rate:.2%} vs {champion_success.rate:.2%}"
        if direction == HIGHER_IS_BETTER:
            return f"success rate {side}: {rates}"
        return f"business metric rate {side}, and lower is better: {rates}"

    fewest = min(champion.invocations, challenger.invocations)
    if fewest < design.min_samples:
        return verdict(
            Verdict.INSUFFICIENT,
            f"{fewest:,} invocations in a variant, fewer than the {design.min_samples:,} needed for a decision",
        )

    harms = []
    if worse.rejects(design.alpha):
        harms.append(f"{rate_change(worse)}, always-valid p = {worse.p_value:.3g} <= {design.alpha:g}")
    if more_errors.rejects(design.alpha):
        harms.append(
            f"5xx rate higher: {challenger.errors.rate:.2%} vs {champion.errors.rate:.2%},"
            f" always-valid p = {more_errors.p_value:.3g} <= {design.alpha:g}"
        )
    if latency_ratio is not None and latency_ratio > design.latency_ratio_limit:
        harms.append(
            f"p99 latency {latency_ratio:.2f} x the champion's, above the limit {design.latency_ratio_limit:g}"
        )
    if harms:
        return verdict(Verdict.HARMFUL, *harms)

    if test_promotion and better.rejects(design.alpha):
        return verdict(
            Verdict.BETTER, f"{rate_change(better)}, always-valid p = {better.p_value:.3g} <= {design.alpha:g}"
        )
    rate = "success rate" if direction == HIGHER_IS_BETTER else "business metric rate (lower is better)"
    return verdict(
        Verdict.INCONCLUSIVE,
        f"no harm and no significant benefit yet: {rate} {challenger_success.rate:.2%} vs"
        f" {champion_success.rate:.2%}, always-valid p = {better.p_value:.3g}",
    )
