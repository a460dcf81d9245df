"""Structural guarantees of the code location that keep a bad run from writing anything."""

from assets.backtest import BACKTEST_ASSETS
from assets.definitions import ALL_ASSETS
from assets.resources import WAREHOUSE_TAG

EVERY_ASSET = [*ALL_ASSETS, *BACKTEST_ASSETS]


def test_every_warehouse_step_validates_the_portfolio_first():
    """Each asset that opens the DuckDB file also requires the portfolio resource, whose setup
    validates portfolio.toml: under any executor, a bad file fails every writing step before it
    opens the warehouse."""
    writers = [a for a in EVERY_ASSET if WAREHOUSE_TAG.items() <= a.op.tags.items()]
    assert writers, "no warehouse-tagged assets found"
    missing = [a.key.to_user_string() for a in writers if "portfolio" not in a.required_resource_keys]
    assert missing == []


def test_every_asset_that_names_the_warehouse_is_serialised():
    """DuckDB allows one writer per file: every asset using the warehouse carries the tag the
    executor limits to one step at a time."""
    untagged = [a.key.to_user_string() for a in EVERY_ASSET
                if "warehouse" in a.required_resource_keys
                and not WAREHOUSE_TAG.items() <= a.op.tags.items()]
    assert untagged == []
