-- GLD option chain snapshots: our own point-in-time chain history (one snapshot per NYSE day).
-- A day's rows are replaced as a whole when that day is re-run (live yfinance, or the model
-- chain when live is off or fails). `source` says which: 'yfinance' | 'model'. Model rows are
-- generated from GVZ + the skew model (docs/chain_model.md) and are never market quotes.
-- `right` (issue 3) is an SQL keyword, so the column is `option_right`.

CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE IF NOT EXISTS raw.option_quotes (
    snapshot_date    DATE      NOT NULL,   -- the NYSE session the snapshot belongs to
    symbol           VARCHAR   NOT NULL,   -- underlying, 'GLD'
    contract         VARCHAR   NOT NULL,   -- OCC symbol, e.g. GLD261016P00400000
    expiry           DATE      NOT NULL,
    option_right     VARCHAR   NOT NULL,   -- 'C' | 'P'
    strike           DOUBLE    NOT NULL,   -- USD
    bid              DOUBLE,               -- USD per share; 0 = no bid
    ask              DOUBLE,               -- USD per share
    last             DOUBLE,               -- last trade price, USD (null for model rows)
    volume           BIGINT,               -- contracts traded that session (null for model rows)
    open_interest    BIGINT,               -- contracts (null for model rows)
    vendor_iv        DOUBLE,               -- vendor's implied vol, decimal; model rows: the model vol
    underlying_price DOUBLE,               -- GLD price the quotes refer to, USD
    last_trade_at    TIMESTAMPTZ,          -- time of `last` (null when unknown)
    source           VARCHAR   NOT NULL,   -- 'yfinance' | 'model'
    fetched_at       TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (snapshot_date, contract)
);
