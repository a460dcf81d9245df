-- Vault Dashboard warehouse schema. Applied idempotently on every run (pipeline/warehouse.py).
-- Data flows one way: raw (as fetched, with provenance) -> analytics (derived) -> publish.
-- Column meanings and units are documented in warehouse/README.md.

CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS analytics;

CREATE TABLE IF NOT EXISTS raw.prices_daily (
    symbol      VARCHAR   NOT NULL,
    date        DATE      NOT NULL,
    open        DOUBLE    NOT NULL,
    high        DOUBLE    NOT NULL,
    low         DOUBLE    NOT NULL,
    close       DOUBLE    NOT NULL,
    volume      BIGINT,
    source      VARCHAR   NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (symbol, date)
);

CREATE TABLE IF NOT EXISTS raw.gvz_daily (
    date        DATE      NOT NULL PRIMARY KEY,
    close       DOUBLE    NOT NULL,
    source      VARCHAR   NOT NULL,
    fetched_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.rates_daily (
    date              DATE    NOT NULL,
    tenor             VARCHAR NOT NULL,
    rate              DOUBLE  NOT NULL,
    quoted_discount_pct DOUBLE NOT NULL,
    source            VARCHAR NOT NULL,
    fetched_at        TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (date, tenor)
);

CREATE TABLE IF NOT EXISTS analytics.ltv_daily (
    date                    DATE    NOT NULL PRIMARY KEY,
    gld_close               DOUBLE  NOT NULL,
    shares                  DOUBLE  NOT NULL,
    collateral_value        DOUBLE  NOT NULL,
    loan                    DOUBLE  NOT NULL,
    ltv                     DOUBLE  NOT NULL,
    margin_call_ltv         DOUBLE  NOT NULL,
    margin_call_price       DOUBLE  NOT NULL,
    distance_to_margin_call DOUBLE  NOT NULL
);

-- One row per ingest step run: where the table's data came from this time, and why.
CREATE TABLE IF NOT EXISTS raw.ingest_log (
    table_name  VARCHAR     NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    status      VARCHAR     NOT NULL,  -- embedded | live | partial | stale
    reason      VARCHAR     NOT NULL,
    rows        BIGINT      NOT NULL,
    first_date  DATE,
    last_date   DATE
);
