"""A deterministic synthetic weekly-sales table, so the project runs without any download.

Every store carries every product; each store and product is a weekly series. A week's demand is
the product's usual sales, scaled by the store's size, the season of its category, its price
against the list price (elasticity), a promotion's display effect and a holiday, times a
store-product affinity that no feature names but last week's sales reveal. Units sold are that
demand plus noise, and become next week's `units_last_week`, so a model has a real but imperfect
signal to learn.

    python -m workflow.synthetic_data --output data/generated/sales.csv
"""

import argparse
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from workflow.schema import CATEGORIES, PRODUCT_COLUMN, STORE_COLUMN, TARGET_COLUMN, WEEK_COLUMN

DEFAULT_STORES = 8
DEFAULT_PRODUCTS = 12
DEFAULT_WEEKS = 52
DEFAULT_SEED = 42
DEFAULT_OUTPUT = Path("data/generated/sales.csv")
FIRST_WEEK = date(2024, 1, 1)  # a Monday, ISO week 1


@dataclass(frozen=True)
class CategoryProfile:
    weekly_units: float  # at a 2,500 sqm store, list price, no promotion, average season
    list_price: tuple[float, float]  # the range list prices are drawn from
    elasticity: float  # -d log(units) / d log(price)
    seasonal_amplitude: float
    peak_week: int


PROFILES = {
    "beverages": CategoryProfile(33.0, (1.5, 4.0), 1.8, 0.30, 30),
    "dairy": CategoryProfile(40.0, (1.0, 5.0), 1.2, 0.05, 10),
    "frozen": CategoryProfile(21.0, (3.0, 9.0), 1.5, 0.25, 30),
    "household": CategoryProfile(15.0, (4.0, 15.0), 1.0, 0.10, 48),
    "snacks": CategoryProfile(27.0, (1.5, 5.0), 1.6, 0.15, 51),
}
# New Year, Easter, spring and summer bank holidays, Thanksgiving, Christmas (ISO weeks).
NATIONAL_HOLIDAY_WEEKS = frozenset({1, 13, 22, 27, 47, 51, 52})
REGIONAL_HOLIDAYS_PER_STORE = 2
PROMOTION_RATE = 0.15
PROMOTION_DISPLAY_LIFT = 1.25  # beyond the effect of the lower price
HOLIDAY_LIFT = 1.3
STORE_SIZE_EXPONENT = 0.7
REFERENCE_STORE_SQM = 2500.0
AFFINITY_SIGMA = 0.15  # store-product demand no feature explains
RELATIVE_NOISE = 0.08
ABSOLUTE_NOISE = 2.5


def generate_sales(
    n_stores: int = DEFAULT_STORES,
    n_products: int = DEFAULT_PRODUCTS,
    n_weeks: int = DEFAULT_WEEKS,
    seed: int = DEFAULT_SEED,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    store_sizes = rng.integers(800, 6001, n_stores)
    regional_holidays = [
        set(rng.choice(np.arange(2, 52), REGIONAL_HOLIDAYS_PER_STORE, replace=False)) for _ in range(n_stores)
    ]
    categories = rng.choice(CATEGORIES, n_products)
    list_prices = np.array([rng.uniform(*PROFILES[category].list_price) for category in categories])

    rows: list[dict[str, object]] = []
    for store in range(n_stores):
        size_effect = (store_sizes[store] / REFERENCE_STORE_SQM) ** STORE_SIZE_EXPONENT
        for product in range(n_products):
            profile = PROFILES[categories[product]]
            affinity = np.exp(rng.normal(0.0, AFFINITY_SIGMA))
            # The week before the first one, so the first row has a units_last_week too.
            last_week = _units(rng, profile.weekly_units * size_effect * affinity)
            for week in range(n_weeks):
                start = FIRST_WEEK + timedelta(weeks=week)
                week_of_year = start.isocalendar().week
                promotion = int(rng.random() < PROMOTION_RATE)
                discount = rng.uniform(0.70, 0.85) if promotion else rng.uniform(0.97, 1.03)
                price = round(float(list_prices[product] * discount), 2)
                holiday = int(
                    week_of_year in NATIONAL_HOLIDAY_WEEKS or week_of_year in regional_holidays[store]
                )
                demand = (
                    profile.weekly_units
                    * size_effect
                    * affinity
                    * _season(profile, week_of_year)
                    * (price / list_prices[product]) ** -profile.elasticity
                    * (PROMOTION_DISPLAY_LIFT if promotion else 1.0)
                    * (HOLIDAY_LIFT if holiday else 1.0)
                )
                units = _units(rng, demand)
                rows.append(
                    {
                        STORE_COLUMN: f"S{store + 1:03d}",
                        PRODUCT_COLUMN: f"P{product + 1:04d}",
                        WEEK_COLUMN: start.isoformat(),
                        "price": price,
                        "promotion": promotion,
                        "week_of_year": week_of_year,
                        "store_size_sqm": int(store_sizes[store]),
                        "holiday": holiday,
                        "category": str(categories[product]),
                        "units_last_week": last_week,
                        TARGET_COLUMN: units,
                    }
                )
                last_week = units
    return pd.DataFrame(rows)


def _season(profile: CategoryProfile, week_of_year: int) -> float:
    return 1.0 + profile.seasonal_amplitude * float(
        np.cos(2 * np.pi * (week_of_year - profile.peak_week) / 52)
    )


def _units(rng: np.random.Generator, demand: float) -> float:
    """Units sold in a week of `demand`: relative and absolute noise, never negative, to 0.1 unit."""
    noisy = demand * np.exp(rng.normal(0.0, RELATIVE_NOISE)) + rng.normal(0.0, ABSOLUTE_NOISE)
    return round(max(0.0, float(noisy)), 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stores", type=int, default=DEFAULT_STORES)
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--weeks", type=int, default=DEFAULT_WEEKS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sales = generate_sales(args.stores, args.products, args.weeks, args.seed)
    sales.to_csv(args.output, index=False)
    print(
        f"wrote {len(sales)} store-product weeks (mean {sales[TARGET_COLUMN].mean():.1f} units sold)"
        f" to {args.output}"
    )


if __name__ == "__main__":
    main()
