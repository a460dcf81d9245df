-- Option pricing analytics (docs/chain_model.md, warehouse/README.md). Units: vols and rates
-- are annualised decimals (rates continuous), t in years, theta per year, vega per 1.00 vol,
-- rho per 1.00 rate, prices in USD per share (x100 per contract).

CREATE SCHEMA IF NOT EXISTS analytics;

-- Every raw.option_quotes row valued: mid, own American IV from mid, Greeks at that IV, and
-- quality flags. Bad rows are kept: a flag says what is wrong, iv/Greeks are null when no IV.
CREATE TABLE IF NOT EXISTS analytics.option_valuations (
    snapshot_date     DATE     NOT NULL,
    symbol            VARCHAR  NOT NULL,
    contract          VARCHAR  NOT NULL,
    expiry            DATE     NOT NULL,
    option_right      VARCHAR  NOT NULL,  -- 'C' | 'P'
    strike            DOUBLE   NOT NULL,
    source            VARCHAR  NOT NULL,  -- 'yfinance' | 'model' (model rows are not market quotes)
    underlying_price  DOUBLE,
    rate              DOUBLE,             -- 3m T-bill, continuous, as of the snapshot day
    rate_age_days     INTEGER,            -- days since that T-bill print (0 = same day)
    q                 DOUBLE   NOT NULL,  -- continuous carry yield (GLD expense ratio)
    days_to_expiry    INTEGER  NOT NULL,  -- calendar days
    t_years           DOUBLE   NOT NULL,  -- days_to_expiry / 365
    moneyness         DOUBLE,             -- strike / underlying_price
    bid               DOUBLE,
    ask               DOUBLE,
    mid               DOUBLE,             -- (bid + ask) / 2; null when there is no ask
    spread_pct        DOUBLE,             -- (ask - bid) / mid
    last              DOUBLE,
    volume            BIGINT,
    open_interest     BIGINT,
    vendor_iv         DOUBLE,
    iv                DOUBLE,             -- American IV solved from mid; null when iv_reason <> 0
    iv_reason         TINYINT  NOT NULL,  -- IVReason code, 0 = OK
    iv_reason_name    VARCHAR  NOT NULL,
    delta             DOUBLE,
    gamma             DOUBLE,
    theta             DOUBLE,             -- per year
    vega              DOUBLE,             -- per 1.00 vol
    rho               DOUBLE,             -- per 1.00 rate
    flag_zero_bid     BOOLEAN  NOT NULL,
    flag_crossed      BOOLEAN  NOT NULL,  -- ask < bid
    flag_wide_spread  BOOLEAN  NOT NULL,  -- spread_pct > 25 %
    flag_stale_last   BOOLEAN  NOT NULL,  -- last trade before the snapshot day (or no trade)
    flag_no_vendor_iv BOOLEAN  NOT NULL,  -- vendor IV null or 0
    flag_iv_failed    BOOLEAN  NOT NULL,  -- iv_reason <> 0
    quality_flags     VARCHAR  NOT NULL,  -- the raised flags, comma-separated ('' = clean)
    fetched_at        TIMESTAMPTZ NOT NULL, -- of the quote (a re-fetched day is valued again)
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (snapshot_date, contract)
);

-- Per day: ATM IV at fixed tenors (interpolated in total variance), 25-delta put skew at 30 days,
-- realised vol, VRP. Days with a chain snapshot use its valuations; other days use the
-- synthetic chain (GVZ + skew model), named in iv_source.
CREATE TABLE IF NOT EXISTS analytics.vol_surface_daily (
    date               DATE    NOT NULL PRIMARY KEY,
    iv_source          VARCHAR NOT NULL,  -- 'chain:model' | 'chain:yfinance' | 'synthetic'
    atm_vol_source     VARCHAR,           -- synthetic and model-chain days: 'gvz' | 'gvz_carried' |
                                          -- 'hv20_scaled' | 'prior'; null for market chains
    expiries_used      INTEGER NOT NULL,  -- tenors/expiries with an ATM IV that day
    min_tenor_days     INTEGER,           -- shortest/longest of them: targets outside are flat-vol
    max_tenor_days     INTEGER,           -- extrapolated
    atm_iv_30d         DOUBLE,
    atm_iv_60d         DOUBLE,
    atm_iv_90d         DOUBLE,
    atm_iv_180d        DOUBLE,
    atm_iv_365d        DOUBLE,
    put_25d_iv_30d     DOUBLE,            -- IV of the 25-delta put at 30 days
    put_skew_25d_30d   DOUBLE,            -- put_25d_iv_30d - atm_iv_30d (vol points as decimal)
    hv20               DOUBLE,            -- GLD realised vol, log returns, ddof 1, x sqrt(252)
    hv60               DOUBLE,
    hv252              DOUBLE,
    vrp_30d_20d        DOUBLE,             -- atm_iv_30d / hv20
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')  -- the Dagster run that wrote the row
);

-- Backtest history: model prices and Greeks on a fixed grid for every GLD trading day, from
-- data known that day only (as-of joins backward). American exercise.
CREATE TABLE IF NOT EXISTS analytics.synthetic_chain_daily (
    date              DATE     NOT NULL,
    tenor_months      TINYINT  NOT NULL,  -- 1, 2, 3, 6, 12, 24 (t = months / 12)
    moneyness         DOUBLE   NOT NULL,  -- strike / spot: 0.70 .. 1.10 step 0.05
    option_right      VARCHAR  NOT NULL,  -- 'C' | 'P'
    spot              DOUBLE   NOT NULL,  -- GLD close
    strike            DOUBLE   NOT NULL,
    t_years           DOUBLE   NOT NULL,
    rate              DOUBLE   NOT NULL,  -- 3m T-bill, continuous, last print <= date
    rate_age_days     INTEGER  NOT NULL,
    q                 DOUBLE   NOT NULL,
    atm_vol           DOUBLE   NOT NULL,
    atm_vol_source    VARCHAR  NOT NULL,  -- 'gvz' | 'gvz_carried' | 'hv20_scaled' | 'prior'
    atm_vol_age_days  INTEGER  NOT NULL,
    vol               DOUBLE   NOT NULL,  -- skew_vol(atm_vol, moneyness, t)
    price             DOUBLE   NOT NULL,
    delta             DOUBLE   NOT NULL,
    gamma             DOUBLE   NOT NULL,
    theta             DOUBLE   NOT NULL,
    vega              DOUBLE   NOT NULL,
    rho               DOUBLE   NOT NULL,
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),  -- pipeline/methodology.py
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),  -- the Dagster run that wrote the row
    PRIMARY KEY (date, tenor_months, moneyness, option_right)
);
