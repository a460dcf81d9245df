"""LTV, cure amount, margin-call and hedged margin-call prices against hand calculations.

The loan: 1,000 GLD shares pledged on 2026-01-02 against 275,000 USD; margin call at 75 % LTV,
liquidation at 90 %, cure target 60 %. Closes are the real GLD closes (data/embedded/gld_daily.csv).

    margin-call price  = 275,000 / (1,000 x 0.75) = 366.6667   (LTV 75 % when GLD closes there)
    liquidation price  = 275,000 / (1,000 x 0.90) = 305.5556
    recommended collateral = 275,000 / 0.60 = 458,333.33 USD

    2026-01-02  close 398.28  LTV = 275,000 / 398,280 = 0.690469   (below warn 70 %)
                cure = 275,000 - 0.60 x 398,280 = 36,032.00
                distance = 1 - 366.6667 / 398.28 = 0.079375
                recommended shares = 458,333.33 / 398.28 = 1,150.7817
    2026-06-09  close 390.78  LTV = 275,000 / 390,780 = 0.703721   (first close <= 392.857: crosses 70 %)
    2026-06-24  close 365.92  LTV = 275,000 / 365,920 = 0.751530   (first close <= 366.667: crosses 75 %)
                cure = 275,000 - 0.60 x 365,920 = 55,448.00
    2026-07-16  close 364.96  LTV = 275,000 / 364,960 = 0.753507   (2026 low)
                cure = 275,000 - 0.60 x 364,960 = 56,024.00
                distance = 1 - 366.6667 / 364.96 = -0.004676 (already through the call)

Hedge: 5 GLD 380 puts expiring 2026-07-17, bought 2026-06-01 at 8.00.
    On the expiry day 2026-07-17 (close 368.41) a put is worth its intrinsic value:
    hedge value = 5 x 100 x (380 - 368.41) = 5,795.00
    hedged LTV  = 275,000 / (368,410 + 5,795) = 275,000 / 374,205 = 0.734891
    hedged margin-call price: below the strike, 1,000 P + 500 (380 - P) = 275,000 / 0.75 = 366,666.67
        -> 500 P = 366,666.67 - 190,000 = 176,666.67 -> P = 353.3333 (vs 366.6667 unhedged)
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from pipeline.config import parse_portfolio
from pipeline.paths import EMBEDDED_DATA_DIR
from pipeline.portfolio.ltv import NoPricesError, ltv_daily

LOAN = {"amount": 275000.0, "margin_call_ltv": 0.75, "liquidation_ltv": 0.90, "target_ltv": 0.60}
HEDGE = {"id": "jul-380-put", "right": "put", "strike": 380.0, "expiry": date(2026, 7, 17), "contracts": 5,
         "entry_date": date(2026, 6, 1), "premium": 8.0}


def _book(**extra: object):  # noqa: ANN202
    return parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                            "loan": LOAN, **extra})


@pytest.fixture(scope="module")
def prices() -> pl.DataFrame:
    return pl.read_csv(EMBEDDED_DATA_DIR / "gld_daily.csv", try_parse_dates=True).with_columns(symbol=pl.lit("GLD"))


@pytest.fixture(scope="module")
def unhedged(prices: pl.DataFrame) -> pl.DataFrame:
    return ltv_daily(prices, _book())


def _on(frame: pl.DataFrame, day: date) -> dict:
    return frame.filter(pl.col("date") == day).row(0, named=True)


def test_constant_prices_of_the_loan(unhedged: pl.DataFrame) -> None:
    row = _on(unhedged, date(2026, 1, 2))
    assert row["margin_call_price"] == pytest.approx(366.666667, abs=1e-6)
    assert row["liquidation_price"] == pytest.approx(305.555556, abs=1e-6)
    assert row["recommended_collateral_value"] == pytest.approx(458333.333333, abs=1e-5)
    assert unhedged["date"].min() == date(2026, 1, 2)
    assert unhedged["date"].max() == date(2026, 10, 6)


@pytest.mark.parametrize(
    ("day", "close", "ltv", "cure", "distance"),
    [
        (date(2026, 1, 2), 398.28, 0.690469, 36032.00, 0.079375),
        (date(2026, 6, 9), 390.78, 0.703721, 275000 - 0.6 * 390780, 1 - 366.666667 / 390.78),
        (date(2026, 6, 24), 365.92, 0.751530, 55448.00, 1 - 366.666667 / 365.92),
        (date(2026, 7, 16), 364.96, 0.753507, 56024.00, -0.004676),
    ],
)
def test_hand_calculated_days(unhedged: pl.DataFrame, day: date, close: float, ltv: float, cure: float,
                              distance: float) -> None:
    row = _on(unhedged, day)
    assert row["gld_close"] == close
    assert row["ltv"] == pytest.approx(ltv, abs=1e-6)
    assert row["cure_amount"] == pytest.approx(cure, abs=0.01)
    assert row["distance_to_margin_call"] == pytest.approx(distance, abs=1e-6)
    assert row["hedge_value"] == 0.0 and row["hedged_ltv"] == row["ltv"]
    assert row["hedged_margin_call_price"] == row["margin_call_price"]
    assert row["hedge_mark_source"] == "none"


def test_recommended_shares_and_ounces(unhedged: pl.DataFrame) -> None:
    """Ounces: 1,000 x 0.1 x (1 - 0.004/365)^7715 = 91.8927 on 2026-01-02."""
    row = _on(unhedged, date(2026, 1, 2))
    assert row["recommended_collateral_shares"] == pytest.approx(1150.7817, abs=1e-4)
    assert row["gold_ounces"] == pytest.approx(91.8927, abs=1e-4)


def test_crossings_of_70_and_75_percent_happen_on_the_hand_picked_days(unhedged: pl.DataFrame) -> None:
    first_warn = unhedged.filter(pl.col("ltv") >= 0.70)["date"].min()
    first_call = unhedged.filter(pl.col("ltv") >= 0.75)["date"].min()
    assert (first_warn, first_call) == (date(2026, 6, 9), date(2026, 6, 24))


def test_cure_amount_is_zero_below_target(prices: pl.DataFrame) -> None:
    """Loan 200,000: on 2026-01-29 (close 495.90) LTV = 200,000 / 495,900 = 0.4033 < 0.60 -> cure 0."""
    book = parse_portfolio({"start_date": date(2026, 1, 2), "collateral": {"shares": 1000.0},
                            "loan": {**LOAN, "amount": 200000.0}})
    row = _on(ltv_daily(prices, book), date(2026, 1, 29))
    assert row["ltv"] == pytest.approx(0.403307, abs=1e-6)
    assert row["cure_amount"] == 0.0


def test_start_after_the_last_close_raises(prices: pl.DataFrame) -> None:
    book = parse_portfolio({"start_date": date(2027, 1, 4), "collateral": {"shares": 1000.0}, "loan": LOAN})
    with pytest.raises(NoPricesError, match="2027-01-04"):
        ltv_daily(prices, book)


@pytest.fixture(scope="module")
def hedged(prices: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The same loan holding the July 380 puts: (ltv_daily, positions_daily) on the real surface."""
    from datetime import datetime, timezone

    from pipeline.market import embedded
    from pipeline.portfolio.hedged import hedged_margin_call_prices
    from pipeline.portfolio.positions import hedge_totals_daily, market_surface, positions_daily

    book = _book(hedges=[HEDGE])
    now = datetime.now(timezone.utc)
    surface = market_surface(prices, embedded.load_gvz(now), embedded.load_rates(now))
    positions = positions_daily(book, surface)
    totals = hedge_totals_daily(positions).join(
        hedged_margin_call_prices(positions, book.share_count, book.loan.amount, book.loan.margin_call_ltv), on="date")
    return ltv_daily(prices, book, totals), positions


def test_hedged_figures_on_the_expiry_day_by_hand(hedged: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    row = _on(hedged[0], date(2026, 7, 17))
    assert row["hedge_value"] == pytest.approx(5795.00, abs=1e-6)
    assert row["hedge_mark_source"] == "intrinsic"
    assert row["hedged_ltv"] == pytest.approx(0.734891, abs=1e-6)
    assert row["hedged_margin_call_price"] == pytest.approx(353.333333, abs=1e-6)
    assert row["portfolio_delta"] == pytest.approx(1000 - 500, abs=1e-9)  # 5 ITM puts at expiry: -500 shares


def test_days_without_the_hedge_are_unhedged(hedged: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    ltv, _ = hedged
    outside = ltv.filter((pl.col("date") < date(2026, 6, 1)) | (pl.col("date") > date(2026, 7, 17)))
    assert outside["hedge_value"].to_list() == [0.0] * outside.height
    assert (outside["hedged_margin_call_price"] == outside["margin_call_price"]).all()
    assert (outside["hedge_mark_source"] == "none").all()


def test_hedged_margin_call_price_matches_quantlib_and_a_brentq_root(hedged: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """2026-07-01 (dte 16): reprice the 5 puts with QuantLib's finite-difference American engine at
    the same vol rule (skew at 380/P), rate and t, and solve 1000 P + 500 put(P) = 366,666.67 with
    scipy's brentq; the pipeline's vectorised bisection with the Numba kernel must agree within 2 cents."""
    ql = pytest.importorskip("QuantLib")
    optimize = pytest.importorskip("scipy.optimize")
    from pipeline.pricing.skew import skew_vol

    ltv, positions = hedged
    day = date(2026, 7, 1)
    position = positions.filter(pl.col("date") == day).row(0, named=True)
    today = ql.Date(day.day, day.month, day.year)
    ql.Settings.instance().evaluationDate = today
    expiry = today + int(position["dte"])
    counter = ql.Actual365Fixed()

    def put_value(spot: float) -> float:
        vol = float(skew_vol(position["atm_vol"], 380.0 / spot, position["t_years"]))
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(spot)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, 0.004, counter, ql.Continuous)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, position["rate"], counter, ql.Continuous)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), vol, counter)))
        option = ql.VanillaOption(ql.PlainVanillaPayoff(ql.Option.Put, 380.0), ql.AmericanExercise(today, expiry))
        option.setPricingEngine(ql.FdBlackScholesVanillaEngine(process, 400, 400))
        return option.NPV()

    root = optimize.brentq(lambda p: 1000 * p + 500 * put_value(p) - 275000 / 0.75, 200.0, 400.0, xtol=1e-6)
    row = _on(ltv, day)
    assert row["hedged_margin_call_price"] == pytest.approx(root, abs=0.02)
    assert row["hedged_margin_call_price"] < row["margin_call_price"]
    assert row["hedge_value"] == pytest.approx(500 * put_value(row["gld_close"]), rel=2e-3)
