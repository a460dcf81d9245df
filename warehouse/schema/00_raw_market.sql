-- Raw market tables: rows as fetched, each with its provenance (source, fetched_at).
-- Applied idempotently on every connection, in file-name order (pipeline/warehouse.py).

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

-- One row per ingest step run: where the table's data came from this time, and why.
CREATE TABLE IF NOT EXISTS raw.ingest_log (
    table_name  VARCHAR     NOT NULL,
    ingested_at TIMESTAMPTZ NOT NULL,
    status      VARCHAR     NOT NULL,  -- embedded | model | live | partial | stale
    reason      VARCHAR     NOT NULL,
    rows        BIGINT      NOT NULL,
    first_date  DATE,
    last_date   DATE
);
