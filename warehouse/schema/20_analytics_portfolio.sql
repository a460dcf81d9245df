-- The Lombard position: daily loan-to-value of the configured portfolio and its held hedges.
-- Formulas: pipeline/portfolio/ltv.py, positions.py, hedged.py; column docs: warehouse/README.md.

CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS analytics.ltv_daily (
    date                          DATE    NOT NULL PRIMARY KEY,
    gld_close                     DOUBLE  NOT NULL,
    shares                        DOUBLE  NOT NULL,  -- GLD shares pledged
    gold_ounces                   DOUBLE,            -- troy oz behind them that day (GLD only)
    collateral_value              DOUBLE  NOT NULL,  -- USD
    loan                          DOUBLE  NOT NULL,
    ltv                           DOUBLE  NOT NULL,
    margin_call_ltv               DOUBLE  NOT NULL,
    margin_call_price             DOUBLE  NOT NULL,
    distance_to_margin_call       DOUBLE  NOT NULL,  -- fraction GLD can fall before the call
    liquidation_ltv               DOUBLE  NOT NULL,
    liquidation_price             DOUBLE  NOT NULL,
    target_ltv                    DOUBLE  NOT NULL,
    cure_amount                   DOUBLE  NOT NULL,  -- cash paid down to reach target_ltv, >= 0
    recommended_collateral_value  DOUBLE  NOT NULL,  -- loan / target_ltv, USD
    recommended_collateral_shares DOUBLE  NOT NULL,  -- the same in GLD shares at that close
    hedge_value                   DOUBLE  NOT NULL,  -- held hedges, USD (0 without hedges)
    hedge_mark_source             VARCHAR NOT NULL,  -- none | kernel | intrinsic | chain_<source> | mixed
    hedged_ltv                    DOUBLE  NOT NULL,  -- loan / (collateral_value + hedge_value)
    hedged_margin_call_price      DOUBLE,            -- null: the hedges alone cover the call
    portfolio_delta               DOUBLE  NOT NULL,  -- shares + hedge deltas (share equivalents)
    portfolio_gamma               DOUBLE  NOT NULL,  -- per 1 USD GLD move
    portfolio_theta               DOUBLE  NOT NULL,  -- USD per calendar day
    portfolio_vega                DOUBLE  NOT NULL,   -- USD per vol point
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);

CREATE TABLE IF NOT EXISTS analytics.positions_daily (
    date            DATE    NOT NULL,
    position_id     VARCHAR NOT NULL,
    option_right    VARCHAR NOT NULL,  -- put | call (`right` is an SQL keyword)
    strike          DOUBLE  NOT NULL,
    expiry          DATE    NOT NULL,
    contracts       BIGINT  NOT NULL,  -- 100 shares each
    entry_date      DATE    NOT NULL,
    premium         DOUBLE  NOT NULL,  -- USD per share paid
    gld_close       DOUBLE  NOT NULL,
    dte             BIGINT  NOT NULL,  -- calendar days to expiry
    t_years         DOUBLE  NOT NULL,  -- dte / 365
    atm_vol         DOUBLE,
    vol             DOUBLE,            -- skewed model vol at this strike (null on the expiry day)
    rate            DOUBLE  NOT NULL,  -- 3m T-bill, continuous, as of the day
    mark            DOUBLE  NOT NULL,  -- USD per share
    mark_source     VARCHAR NOT NULL,  -- kernel | intrinsic | chain_<valuation source>
    intrinsic       DOUBLE  NOT NULL,  -- USD per share
    position_value  DOUBLE  NOT NULL,  -- mark x 100 x contracts
    cost            DOUBLE  NOT NULL,  -- premium x 100 x contracts
    pnl             DOUBLE  NOT NULL,  -- position_value - cost
    delta           DOUBLE  NOT NULL,  -- per position (x 100 x contracts), share equivalents
    gamma           DOUBLE  NOT NULL,
    theta           DOUBLE  NOT NULL,  -- USD per calendar day
    vega            DOUBLE  NOT NULL,  -- USD per vol point
    triage          VARCHAR NOT NULL,  -- EXPIRED | ROLL | HARVEST | PROTECTING | IDLE
    triage_rule     VARCHAR NOT NULL,  -- the rule that fired, with its numbers
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (date, position_id)
);
