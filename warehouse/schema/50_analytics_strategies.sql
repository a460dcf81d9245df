-- The strategy engine (pipeline/strategies/, docs/strategies.md): named hedge templates, today's
-- comparison from the stored chain, scenarios, payoff, recommendation, order preview, and the
-- protection signals. Column docs and units: warehouse/README.md "Strategy tables".
-- Fractions are decimals (0.05 = 5 %), vol shocks in vol as a decimal (0.10 = +10 vol points),
-- money in USD, prices in USD per GLD share.

CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.strategy_templates (
    template_id         VARCHAR NOT NULL PRIMARY KEY,  -- stable id, never renamed
    display_name        VARCHAR NOT NULL,
    family              VARCHAR NOT NULL,  -- protective_put | ladder | leaps | collar | put_spread | custom
    source              VARCHAR NOT NULL,  -- system | user (a [[strategies]] block of portfolio.toml)
    description         VARCHAR NOT NULL,
    roll_dte            INTEGER NOT NULL,  -- roll when this many calendar days or fewer remain
    legs                INTEGER NOT NULL,
    methodology_version VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);

CREATE TABLE IF NOT EXISTS analytics.strategy_template_legs (
    template_id     VARCHAR NOT NULL,
    leg_index       INTEGER NOT NULL,  -- 0, 1, ... in the template's order
    option_right    VARCHAR NOT NULL,  -- 'P' | 'C'
    side            VARCHAR NOT NULL,  -- long | short
    moneyness       DOUBLE  NOT NULL,  -- target strike / spot
    tenor_days      INTEGER NOT NULL,  -- target calendar days to expiry
    tenor_min_days  INTEGER,           -- listed expiries outside [min, max] are not eligible
    tenor_max_days  INTEGER,
    weight          DOUBLE  NOT NULL,  -- share of the collateral this leg covers
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (template_id, leg_index)
);

-- One row per chain snapshot day x template: the hedge bought on that day's chain.
CREATE TABLE IF NOT EXISTS analytics.strategy_comparison (
    as_of                            DATE    NOT NULL,
    template_id                      VARCHAR NOT NULL,
    display_name                     VARCHAR NOT NULL,
    family                           VARCHAR NOT NULL,
    chain_source                     VARCHAR NOT NULL,  -- source of the chain rows used: model | yfinance | ...
    status                           VARCHAR NOT NULL,  -- ok | no_contract (see leg_notes)
    spot                             DOUBLE  NOT NULL,  -- GLD close of as_of
    collateral_shares                DOUBLE  NOT NULL,
    collateral_value                 DOUBLE  NOT NULL,
    loan                             DOUBLE  NOT NULL,
    expiry                           DATE,              -- earliest leg expiry (protection ends there)
    dte                              INTEGER,
    contracts                        BIGINT  NOT NULL,  -- all legs, 100 shares each
    protected_shares                 DOUBLE  NOT NULL,  -- shares covered by long puts
    premium_per_share                DOUBLE,            -- cost_at_fill / collateral_shares
    cost_at_fill                     DOUBLE,            -- long legs at the ask, short legs at the bid, USD
    cost_at_mid                      DOUBLE,
    cost_pct_collateral              DOUBLE,            -- cost_at_fill / collateral_value
    cost_annualised_pct              DOUBLE,            -- cost_pct_collateral x 365 / dte
    unhedged_margin_call_price       DOUBLE  NOT NULL,  -- loan / (shares x margin_call_ltv)
    hedged_margin_call_price         DOUBLE,            -- null: the hedge alone covers the call
    fall_to_margin_call_unhedged_pct DOUBLE  NOT NULL,  -- 1 - unhedged_margin_call_price / spot
    fall_to_margin_call_hedged_pct   DOUBLE,            -- 1 - hedged_margin_call_price / spot (1 when covered)
    protection_points                DOUBLE,            -- (hedged - unhedged fall) x 100, percentage points
    cost_per_protection_point        DOUBLE,            -- cost_at_fill / protection_points, USD
    floor_value                      DOUBLE,            -- lowest collateral + hedge payoff at expiry, USD
    max_loss                         DOUBLE,            -- collateral_value + cost_at_fill - floor_value
    breakeven_price                  DOUBLE,            -- GLD at expiry where collateral + payoff - cost = today's collateral
    upside_cap_price                 DOUBLE,            -- lowest short-call strike (collars); null without
    leg_notes                        VARCHAR NOT NULL,  -- contracts skipped and why ('' = none)
    methodology_version              VARCHAR NOT NULL,
    inputs_digest                    VARCHAR NOT NULL,  -- chain, portfolio and method fingerprint: a day
                                                        -- is recomputed when it changes
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, template_id)
);

-- Read-only order ticket per template and leg (no broker); also written as CSV under the site.
CREATE TABLE IF NOT EXISTS analytics.order_preview (
    as_of             DATE    NOT NULL,
    template_id       VARCHAR NOT NULL,
    leg_index         INTEGER NOT NULL,
    contract          VARCHAR NOT NULL,  -- OCC symbol
    action            VARCHAR NOT NULL,  -- BUY | SELL (to open)
    option_right      VARCHAR NOT NULL,  -- 'P' | 'C'
    expiry            DATE    NOT NULL,
    strike            DOUBLE  NOT NULL,
    contracts         BIGINT  NOT NULL,
    bid               DOUBLE  NOT NULL,
    ask               DOUBLE  NOT NULL,
    limit_price       DOUBLE  NOT NULL,  -- suggested limit: the mid
    iv                DOUBLE,            -- the leg's American IV from the mid
    est_cost_at_mid   DOUBLE  NOT NULL,  -- signed: BUY pays (+), SELL receives (-), USD
    est_cost_at_fill  DOUBLE  NOT NULL,  -- BUY at the ask, SELL at the bid
    total_cash_needed DOUBLE  NOT NULL,  -- the template's sum of est_cost_at_fill
    chain_source      VARCHAR NOT NULL,
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, template_id, leg_index)
);

CREATE TABLE IF NOT EXISTS analytics.strategy_scenarios (
    as_of                DATE    NOT NULL,
    template_id          VARCHAR NOT NULL,
    horizon              VARCHAR NOT NULL,  -- now | 30d | expiry
    horizon_days         INTEGER NOT NULL,  -- calendar days after as_of
    spot_shock           DOUBLE  NOT NULL,  -- -0.50 .. +0.20
    vol_shock            DOUBLE  NOT NULL,  -- 0, 0.10, 0.20 added to the ATM vol
    gld_price            DOUBLE  NOT NULL,
    hedge_value          DOUBLE  NOT NULL,  -- kernel re-price (now, 30d) or exact payoff (expiry), USD
    unhedged_ltv         DOUBLE  NOT NULL,
    hedged_ltv           DOUBLE  NOT NULL,  -- loan / (shares x gld_price + hedge_value)
    margin_call_unhedged DOUBLE  NOT NULL,  -- margin-call price, USD per share
    margin_call_hedged   DOUBLE,            -- at this horizon and vol shock; null: covered
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, template_id, horizon, spot_shock, vol_shock)
);

CREATE TABLE IF NOT EXISTS analytics.strategy_payoff (
    as_of           DATE    NOT NULL,
    template_id     VARCHAR NOT NULL,
    horizon         VARCHAR NOT NULL,  -- expiry | 30d
    price_ratio     DOUBLE  NOT NULL,  -- gld_price / spot
    gld_price       DOUBLE  NOT NULL,
    hedge_value     DOUBLE  NOT NULL,  -- USD
    hedge_pnl       DOUBLE  NOT NULL,  -- hedge_value - cost_at_fill
    unhedged_equity DOUBLE  NOT NULL,  -- shares x gld_price - loan
    hedged_equity   DOUBLE  NOT NULL,  -- unhedged_equity + hedge_pnl
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, template_id, horizon, price_ratio)
);

CREATE TABLE IF NOT EXISTS analytics.strategy_recommendation (
    as_of                DATE    NOT NULL,
    risk_profile         VARCHAR NOT NULL,  -- conservative | balanced | aggressive
    template_id          VARCHAR NOT NULL,
    rank                 INTEGER NOT NULL,  -- 1 = the pick
    score                DOUBLE,            -- higher is better; null when not priced
    eligible             BOOLEAN NOT NULL,  -- meets the profile's constraint
    is_portfolio_profile BOOLEAN NOT NULL,  -- the portfolio's own risk_profile
    rationale            VARCHAR NOT NULL,
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, risk_profile, template_id)
);

CREATE TABLE IF NOT EXISTS analytics.strategy_sensitivity (
    as_of            DATE    NOT NULL,
    risk_profile     VARCHAR NOT NULL,
    spot_shock       DOUBLE  NOT NULL,  -- -0.10 .. +0.10
    vol_shock        DOUBLE  NOT NULL,  -- -0.05 .. +0.10
    pick_template_id VARCHAR,           -- the pick in that market (null: nothing priced)
    pick_score       DOUBLE,
    base_template_id VARCHAR,           -- the pick in today's market
    pick_changed     BOOLEAN NOT NULL,
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (as_of, risk_profile, spot_shock, vol_shock)
);

-- "Protection cheap or rich?": NVRP = atm_iv_30d / hv20 - 1, every day with both.
CREATE TABLE IF NOT EXISTS analytics.protection_signal (
    date                DATE    NOT NULL PRIMARY KEY,
    iv_source           VARCHAR NOT NULL,  -- vol_surface_daily.iv_source
    atm_iv_30d          DOUBLE  NOT NULL,
    hv20                DOUBLE  NOT NULL,
    nvrp                DOUBLE  NOT NULL,
    signal              VARCHAR NOT NULL,  -- DISCOUNT | FAIR | RICH
    discount_below      DOUBLE  NOT NULL,  -- thresholds in force
    rich_above          DOUBLE  NOT NULL,
    methodology_version VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);

-- Delta-gamma-vega stress of collateral plus held hedges, every analytics.ltv_daily day.
CREATE TABLE IF NOT EXISTS analytics.tail_risk_daily (
    date                DATE    NOT NULL PRIMARY KEY,
    gld_close           DOUBLE  NOT NULL,
    equity              DOUBLE  NOT NULL,  -- collateral + hedges - loan, USD
    worst_spot_shock    DOUBLE  NOT NULL,
    worst_vol_shock     DOUBLE  NOT NULL,
    worst_pnl           DOUBLE  NOT NULL,  -- USD (negative = loss)
    tail_risk_pct       DOUBLE  NOT NULL,  -- max(-worst_pnl, 0) / equity
    status              VARCHAR NOT NULL,  -- Safe | Loaded | Extreme
    scenarios           INTEGER NOT NULL,
    methodology_version VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);

-- Cost of a 3-month 90 % put, every GLD day since 2004-11-18.
CREATE TABLE IF NOT EXISTS analytics.protection_cost_index (
    date                DATE    NOT NULL PRIMARY KEY,
    source              VARCHAR NOT NULL,  -- snapshot:<vendor> (a real chain that day) | synthetic
    spot                DOUBLE  NOT NULL,
    strike              DOUBLE  NOT NULL,
    expiry              DATE,              -- listed expiry used (snapshots); null for synthetic
    tenor_days          INTEGER NOT NULL,
    moneyness           DOUBLE  NOT NULL,
    premium             DOUBLE  NOT NULL,  -- USD per share (snapshot: mid; synthetic: model price)
    cost_pct_collateral DOUBLE  NOT NULL,  -- premium / spot
    cost_annualised_pct DOUBLE  NOT NULL,  -- cost_pct_collateral x 365 / tenor_days
    methodology_version VARCHAR NOT NULL,
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);
