"""The traffic shift's sequential test, on its own and on simulated traffic.

The unit tests pin the formula (against a numerical integral of the mixture) and the verdicts. The
simulations replay experiments hour by hour, with binomial traffic, looking at the cumulative counts
after every hour exactly as the scheduled function does, and measure:
- A/A (no difference): how often the test promotes anyway, which must stay within alpha however
  many hourly looks are taken, while a naive fixed-horizon z-test looked at as often does not (the
  control that shows this harness can see an inflated false-positive rate);
- A/B (a real lift or harm): how often and after how many invocations it is detected.
Seeded, so every run measures the same figures; they are quoted in `statistics`' docstring. Run with
`-s` to print them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from lambdas.traffic_shift.sequential_test import (
    Assessment,
    Counts,
    Design,
    Direction,
    VariantSample,
    Verdict,
    assess,
    msprt,
    normal_cdf,
    normal_quantile,
)

ALPHA = 0.05
DESIGN = Design(min_samples=1000, alpha=ALPHA, latency_ratio_limit=1.5)
DAY, WEEK = 24, 168  # hourly looks; a week is the function's default LOOKBACK_HOURS


# --- The test itself ----------------------------------------------------------------------------------


def mixture_by_integration(champion: Counts, challenger: Counts, direction: Direction, tau: float) -> float:
    """The mSPRT's definition, integrated numerically: the normal likelihood ratio of theta against 0,
    averaged over a half-normal(tau) prior on the tested side (midpoint rule, +-12 tau)."""
    rate = (champion.successes + challenger.successes + 0.5) / (champion.trials + challenger.trials + 1)
    variance = rate * (1 - rate) * (1 / champion.trials + 1 / challenger.trials)
    observed = challenger.rate - champion.rate
    if direction is Direction.LESS:
        observed = -observed
    steps, upper = 20_000, 12 * tau
    width = upper / steps
    total = 0.0
    for i in range(steps):
        theta = (i + 0.5) * width
        likelihood_ratio = math.exp((theta * observed - theta * theta / 2) / variance)
        prior = 2 * math.exp(-theta * theta / (2 * tau * tau)) / (tau * math.sqrt(2 * math.pi))
        total += likelihood_ratio * prior * width
    return total


@pytest.mark.parametrize(
    ("champion", "challenger", "direction"),
    [
        (Counts(100, 1000), Counts(120, 1000), Direction.GREATER),
        (Counts(100, 1000), Counts(120, 1000), Direction.LESS),
        (Counts(900, 9000), Counts(80, 1000), Direction.LESS),
        (Counts(5, 9000), Counts(6, 1000), Direction.GREATER),
        (Counts(0, 2000), Counts(0, 2000), Direction.GREATER),
    ],
    ids=["better", "better-tested-for-worse", "worse-unbalanced", "rare-events", "no-events"],
)
def test_the_e_value_is_the_mixture_likelihood_ratio(
    champion: Counts, challenger: Counts, direction: Direction
) -> None:
    tau = 0.02
    result = msprt(champion, challenger, direction=direction, mixing_sd=tau)

    assert result.e_value == pytest.approx(mixture_by_integration(champion, challenger, direction, tau), rel=1e-4)
    assert result.p_value == pytest.approx(min(1.0, 1 / result.e_value))


def test_the_two_sides_mirror_each_other() -> None:
    a, b = Counts(100, 1000), Counts(130, 1200)
    greater = msprt(a, b, direction=Direction.GREATER, mixing_sd=0.03)
    mirrored = msprt(b, a, direction=Direction.LESS, mixing_sd=0.03)
    assert greater.e_value == pytest.approx(mirrored.e_value)
    assert greater.difference == pytest.approx(-mirrored.difference)


def test_evidence_against_the_tested_side_is_no_evidence() -> None:
    worse = msprt(Counts(120, 1000), Counts(100, 1000), direction=Direction.GREATER, mixing_sd=0.03)
    assert worse.e_value < 1
    assert worse.p_value == 1
    assert not worse.rejects(0.5)


def test_overwhelming_evidence_stays_finite() -> None:
    result = msprt(Counts(0, 10**9), Counts(10**9, 10**9), direction=Direction.GREATER, mixing_sd=0.01)
    assert math.isfinite(result.e_value)
    assert result.rejects(1e-12)
    nothing = msprt(Counts(10**9, 10**9), Counts(0, 10**9), direction=Direction.GREATER, mixing_sd=0.01)
    assert 0 <= nothing.e_value < 1e-6
    assert nothing.p_value == 1


def test_normal_quantiles() -> None:
    assert normal_quantile(0.95) == pytest.approx(1.6448536, abs=1e-6)
    assert normal_quantile(0.8) == pytest.approx(0.8416212, abs=1e-6)
    assert normal_cdf(normal_quantile(1e-9)) == pytest.approx(1e-9, rel=1e-6)


def test_the_mixture_is_tuned_to_the_minimum_sample_size() -> None:
    # The difference a one-sided 5 % test with 1000 per variant finds 80 % of the time, at a 10 % rate.
    assert DESIGN.mixing_sd(0.10) == pytest.approx((1.6448536 + 0.8416212) * math.sqrt(2 * 0.09 / 1000))


@pytest.mark.parametrize(
    ("successes", "trials"), [(-1, 10), (11, 10)], ids=["negative-successes", "more-successes-than-trials"]
)
def test_counts_must_be_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        Counts(successes, trials)


def sample(invocations: int, *, success: float, errors: float = 0.0, p99_ms: float | None = 80.0) -> VariantSample:
    return VariantSample(
        invocations=invocations,
        errors_5xx=round(invocations * errors),
        successes=round(invocations * success),
        p99_latency_us=None if p99_ms is None else p99_ms * 1000,
    )


def test_no_decision_before_the_minimum_sample_size_whatever_the_evidence() -> None:
    verdict = assess(sample(50_000, success=0.10), sample(999, success=0.50, errors=0.5), DESIGN)
    assert verdict.verdict is Verdict.INSUFFICIENT
    assert verdict.reasons == ("999 invocations in a variant, fewer than the 1,000 needed for a decision",)


def test_a_clearly_better_challenger_is_better() -> None:
    verdict = assess(sample(6000, success=0.10), sample(6000, success=0.13), DESIGN)
    assert verdict.verdict is Verdict.BETTER
    assert verdict.better.p_value <= ALPHA
    assert verdict.reasons[0].startswith("success rate higher: 13.00% vs 10.00%, always-valid p = ")


def test_a_better_challenger_is_not_promoted_where_the_policy_says_not_to_test() -> None:
    verdict = assess(sample(6000, success=0.10), sample(6000, success=0.13), DESIGN, test_promotion=False)
    assert verdict.verdict is Verdict.INCONCLUSIVE
    assert verdict.better.rejects(ALPHA)  # reported, not acted on


@pytest.mark.parametrize(
    ("challenger", "reason"),
    [
        (sample(6000, success=0.07), "success rate lower: 7.00% vs 10.00%"),
        (sample(6000, success=0.13, errors=0.02), "5xx rate higher: 2.00% vs 0.10%"),
        (sample(6000, success=0.13, p99_ms=130), "p99 latency 1.62 x the champion's, above the limit 1.5"),
    ],
    ids=["worse-business-metric", "more-5xx-though-better", "slower-though-better"],
)
def test_harm_is_found_before_benefit(challenger: VariantSample, reason: str) -> None:
    verdict = assess(sample(6000, success=0.10, errors=0.001), challenger, DESIGN)
    assert verdict.verdict is Verdict.HARMFUL
    [found] = verdict.reasons
    assert found.startswith(reason)


# --- A business metric of which less is better (refunds, complaints per invocation) --------------------


@pytest.mark.parametrize(
    ("challenger_rate", "verdict", "reason"),
    [
        (0.10, Verdict.BETTER, "business metric rate lower, and lower is better: 10.00% vs 13.00%"),
        (0.16, Verdict.HARMFUL, "business metric rate higher, and lower is better: 16.00% vs 13.00%"),
        (0.13, Verdict.INCONCLUSIVE, "no harm and no significant benefit yet: business metric rate (lower is better)"),
    ],
    ids=["lower-promotes", "higher-rolls-back", "same-holds"],
)
def test_when_lower_is_better_the_business_metric_tests_swap_roles(
    challenger_rate: float, verdict: Verdict, reason: str
) -> None:
    look = assess(
        sample(6000, success=0.13), sample(6000, success=challenger_rate), DESIGN, direction="lower_is_better"
    )
    assert look.verdict is verdict
    assert look.reasons[0].startswith(reason)
    assert (look.better.direction, look.worse.direction) == (Direction.LESS, Direction.GREATER)
    assert (look.rate_test(Direction.LESS), look.rate_test(Direction.GREATER)) == (look.better, look.worse)


@pytest.mark.parametrize(("champion_rate", "challenger_rate"), [(0.13, 0.10), (0.10, 0.13), (0.002, 0.004), (0.1, 0.1)])
def test_lower_is_better_is_the_same_statistics_as_higher_is_better_on_the_complementary_events(
    champion_rate: float, challenger_rate: float
) -> None:
    """p(1 - p) and the smoothed pooled rate are symmetric: counting refunds with "lower is better" must
    decide exactly as counting invocations without a refund with "higher is better"."""
    lower = assess(
        sample(6000, success=champion_rate), sample(6000, success=challenger_rate), DESIGN, direction="lower_is_better"
    )
    complement = assess(sample(6000, success=1 - champion_rate), sample(6000, success=1 - challenger_rate), DESIGN)
    assert lower.verdict is complement.verdict
    assert lower.better.e_value == pytest.approx(complement.better.e_value, rel=1e-9)
    assert lower.worse.e_value == pytest.approx(complement.worse.e_value, rel=1e-9)


def test_when_lower_is_better_the_5xx_and_latency_guardrails_still_roll_back() -> None:
    champion = sample(6000, success=0.13, errors=0.001)
    for challenger, reason in (
        (sample(6000, success=0.10, errors=0.02), "5xx rate higher: 2.00% vs 0.10%"),
        (sample(6000, success=0.10, p99_ms=130), "p99 latency 1.62 x the champion's"),
    ):
        look = assess(champion, challenger, DESIGN, direction="lower_is_better")
        assert look.verdict is Verdict.HARMFUL
        assert look.reasons[0].startswith(reason)
        assert look.better.rejects(ALPHA)  # better on the business metric, and still rolled back


def test_latency_within_the_ratio_and_without_datapoints_is_no_harm() -> None:
    champion = sample(6000, success=0.10)
    assert assess(champion, sample(6000, success=0.10, p99_ms=119), DESIGN).verdict is Verdict.INCONCLUSIVE
    no_latency = assess(sample(6000, success=0.10, p99_ms=None), sample(6000, success=0.10), DESIGN)
    assert no_latency.latency_ratio is None
    assert no_latency.verdict is Verdict.INCONCLUSIVE


def test_a_design_rejects_nonsense() -> None:
    for bad in ({"alpha": 0.0}, {"alpha": 0.5}, {"min_samples": 0}, {"latency_ratio_limit": 0.9}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Design(**bad)


# --- Simulated traffic --------------------------------------------------------------------------------


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible simulations, not secrets


def binomial(rng: random.Random, n: int, p: float) -> int:
    """A Binomial(n, p) draw in O(1) expected time (Python 3.12's random.binomialvariate is not in 3.11):
    geometric waiting times while n*p < 10, Hoermann's BTRS transformed rejection above."""
    if p <= 0.0 or n == 0:
        return 0
    if p >= 1.0:
        return n
    if p > 0.5:
        return n - binomial(rng, n, 1.0 - p)
    if n * p < 10.0:
        log_q, successes, position = math.log1p(-p), 0, 0
        while True:
            position += math.floor(math.log(1.0 - rng.random()) / log_q) + 1
            if position > n:
                return successes
            successes += 1
    spread = math.sqrt(n * p * (1.0 - p))
    b = 1.15 + 2.53 * spread
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    squeeze = 0.92 - 4.2 / b
    scale = (2.83 + 5.1 / b) * spread
    log_odds = math.log(p / (1.0 - p))
    mode = math.floor((n + 1) * p)
    log_mode_weight = math.lgamma(mode + 1) + math.lgamma(n - mode + 1)
    while True:
        u = rng.random() - 0.5
        us = 0.5 - abs(u)
        k = math.floor((2.0 * a / us + b) * u + c)
        if k < 0 or k > n:
            continue
        v = rng.random()
        if us >= 0.07 and v <= squeeze:
            return k
        v *= scale / (a / (us * us) + b)
        if math.log(v) <= log_mode_weight - math.lgamma(k + 1) - math.lgamma(n - k + 1) + (k - mode) * log_odds:
            return k


@pytest.mark.parametrize(("n", "p"), [(200, 0.1), (100, 0.005), (900, 0.7)], ids=["btrs", "geometric", "mirrored"])
def test_the_traffic_simulator_draws_binomial_counts(n: int, p: float) -> None:
    rng = seeded(7)
    draws = [binomial(rng, n, p) for _ in range(20_000)]
    mean = sum(draws) / len(draws)
    variance = sum((d - mean) ** 2 for d in draws) / (len(draws) - 1)
    assert mean == pytest.approx(n * p, rel=0.02, abs=0.02)
    assert variance == pytest.approx(n * p * (1 - p), rel=0.05)
    assert all(0 <= d <= n for d in draws)


@dataclass(frozen=True)
class Arm:
    """One variant's hourly traffic and its true rates."""

    per_hour: int
    success: float
    errors: float = 0.0


@dataclass(frozen=True)
class Detection:
    """When an event first happened in one simulated experiment: the hour and the challenger's invocations."""

    hour: int
    challenger_invocations: int


Z_CRITICAL = normal_quantile(1 - ALPHA)
# What is watched in every look at the evidence, by name.
EVENTS: dict[str, Callable[[Assessment], bool]] = {
    "promoted": lambda look: look.better.rejects(ALPHA),  # the promotion test crossed 1/alpha
    "rolled_back": lambda look: look.verdict is Verdict.HARMFUL,  # a guardrail fired
    "success_lower": lambda look: look.worse.rejects(ALPHA),  # the success-rate guardrail fired
    "errors_higher": lambda look: look.more_errors.rejects(ALPHA),  # the 5xx guardrail fired
    "peeked": lambda look: look.better.z >= Z_CRITICAL,  # a naive fixed-horizon one-sided z-test "found" it
}
Experiment = dict[str, Detection]  # the first detection of each event that happened


def run_experiment(
    champion: Arm, challenger: Arm, hours: int, rng: random.Random, *, stop_at_decision: bool
) -> Experiment:
    """One experiment, hour by hour; looks at the cumulative counts after every hour, as the function does.

    `stop_at_decision` ends it at the first promotion or rollback, as in production; otherwise it runs
    until every event was seen (or the hours are over), to measure each on its own.
    """
    counts = {"champion": [0, 0, 0], "challenger": [0, 0, 0]}  # invocations, successes, errors
    seen: Experiment = {}
    for hour in range(1, hours + 1):
        for name, arm in (("champion", champion), ("challenger", challenger)):
            invocations, successes, errors = counts[name]
            counts[name] = [
                invocations + arm.per_hour,
                successes + binomial(rng, arm.per_hour, arm.success),
                errors + binomial(rng, arm.per_hour, arm.errors),
            ]
        if min(counts["champion"][0], counts["challenger"][0]) < DESIGN.min_samples:
            continue  # assess() would say INSUFFICIENT; skipping it keeps the simulations fast
        samples = [VariantSample(n, errors, successes, None) for n, successes, errors in counts.values()]
        look = assess(samples[0], samples[1], DESIGN)
        for event, happened in EVENTS.items():
            if event not in seen and happened(look):
                seen[event] = Detection(hour, counts["challenger"][0])
        if ("promoted" in seen or "rolled_back" in seen) if stop_at_decision else len(seen) == len(EVENTS):
            break
    return seen


def simulate(
    champion: Arm, challenger: Arm, *, runs: int, hours: int, seed: int, stop_at_decision: bool = True
) -> list[Experiment]:
    rng = seeded(seed)
    return [run_experiment(champion, challenger, hours, rng, stop_at_decision=stop_at_decision) for _ in range(runs)]


def share(experiments: list[Experiment], event: str, within: int = 10**9) -> float:
    """The fraction of experiments in which `event` happened within the first `within` hours."""
    return sum(1 for e in experiments if event in e and e[event].hour <= within) / len(experiments)


def invocations_to_detect(experiments: list[Experiment], event: str) -> list[int]:
    return [e[event].challenger_invocations for e in experiments if event in e]


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def monte_carlo_margin(rate: float, runs: int) -> float:
    """Three standard errors of a proportion measured on `runs` runs."""
    return 3 * math.sqrt(rate * (1 - rate) / runs)


# A 400-invocations-an-hour endpoint at the default 50 % cap, where promotion is decided.
AT_CAP = 200


def test_a_a_repeated_hourly_looks_keep_false_promotions_within_alpha() -> None:
    runs = 1000
    experiments = simulate(
        Arm(AT_CAP, 0.10), Arm(AT_CAP, 0.10), runs=runs, hours=WEEK, seed=20260101, stop_at_decision=False
    )

    false_promotions = {hours: share(experiments, "promoted", hours) for hours in (DAY, WEEK)}
    naive = {hours: share(experiments, "peeked", hours) for hours in (DAY, WEEK)}
    print(f"\nA/A, {runs} runs: false promotions {false_promotions}, naive peeking {naive}")

    limit = ALPHA + monte_carlo_margin(ALPHA, runs)
    assert false_promotions[DAY] <= false_promotions[WEEK] <= limit
    # The control: peeking at a fixed-horizon test as often is far above alpha in the same experiments.
    assert naive[DAY] > limit
    assert naive[WEEK] > 3 * ALPHA


@pytest.mark.parametrize(
    "rate",
    [0.10, 0.002],
    ids=["successes-10-percent", "rare-successes-0.2-percent"],
)
def test_a_a_at_the_initial_10_percent_each_guardrail_keeps_within_alpha(rate: float) -> None:
    """Unequal traffic (900 + 100 an hour) with rare events is where the normal approximation is weakest:
    the case that ruled out the unpooled variance (see `statistics`)."""
    runs = 500
    experiments = simulate(
        Arm(900, rate, errors=0.002),
        Arm(100, rate, errors=0.002),
        runs=runs,
        hours=WEEK,
        seed=20260102,
        stop_at_decision=False,
    )

    false = {event: share(experiments, event) for event in ("success_lower", "errors_higher", "promoted")}
    print(f"\nA/A at 90/10, success {rate:.1%}, 5xx 0.2%, {runs} runs, {WEEK} looks: {false}")
    for event, rate_found in false.items():
        assert rate_found <= ALPHA + monte_carlo_margin(ALPHA, runs), event
    assert share(experiments, "rolled_back") <= false["success_lower"] + false["errors_higher"]


@pytest.mark.parametrize(
    ("lift_to", "power_by_a_day", "power_by_a_week", "median_samples"),
    [(0.12, (0.55, 0.80), (0.99, 1.0), (2500, 5000)), (0.11, (0.05, 0.30), (0.75, 0.95), (10000, 20000))],
    ids=["10-to-12-percent", "10-to-11-percent"],
)
def test_a_b_a_real_lift_is_promoted(
    lift_to: float,
    power_by_a_day: tuple[float, float],
    power_by_a_week: tuple[float, float],
    median_samples: tuple[int, int],
) -> None:
    runs = 500
    experiments = simulate(Arm(AT_CAP, 0.10), Arm(AT_CAP, lift_to), runs=runs, hours=WEEK, seed=20260103)

    power = {hours: share(experiments, "promoted", hours) for hours in (DAY, WEEK)}
    needed = invocations_to_detect(experiments, "promoted")
    median, p90 = percentile(needed, 0.5), percentile(needed, 0.9)
    wrong_way = share(experiments, "rolled_back")
    print(
        f"\nA/B 10% -> {lift_to:.0%}, {runs} runs: power {power}, invocations per variant to detect:"
        f" median {median} ({median // AT_CAP} h), 90th percentile {p90}; rolled back {wrong_way}"
    )

    assert power_by_a_day[0] <= power[DAY] <= power_by_a_day[1]
    assert power_by_a_week[0] <= power[WEEK] <= power_by_a_week[1]
    assert median_samples[0] <= median <= median_samples[1]
    assert wrong_way <= ALPHA


def test_a_b_a_harmful_challenger_is_rolled_back() -> None:
    runs = 500
    experiments = simulate(Arm(900, 0.10), Arm(100, 0.08), runs=runs, hours=WEEK, seed=20260104)

    detected = share(experiments, "rolled_back")
    needed = invocations_to_detect(experiments, "rolled_back")
    median = percentile(needed, 0.5)
    print(
        f"\nHarm 10% -> 8% at 10% traffic, {runs} runs: rolled back {detected}, median {median} challenger invocations"
    )

    assert detected >= 0.95
    assert 1000 <= median <= 5000
    assert share(experiments, "promoted") == 0
