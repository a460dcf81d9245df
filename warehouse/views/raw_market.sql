-- Convenience views over the raw market tables; recreated on every run.

CREATE OR REPLACE VIEW raw.gld_daily AS
SELECT date, open, high, low, close, volume, source, fetched_at
FROM raw.prices_daily WHERE symbol = 'GLD';

-- The latest raw.ingest_log row per table, with partial-data mode applied: when GLD has a close
-- after the latest chain snapshot (prices present, the chain missing), raw.option_quotes reads
-- 'partial' with the days in the reason. LTV, hedge P/L and delta still publish (they need no
-- chain); the site and the data_stale alert then say that chain, vol-surface and strategy
-- figures are from the older snapshot. An intraday live chain ahead of the last close is normal.
CREATE OR REPLACE VIEW raw.ingest_status AS
WITH latest AS (
    SELECT * FROM raw.ingest_log
    QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY ingested_at DESC) = 1
), days AS (
    SELECT (SELECT max(date) FROM raw.prices_daily WHERE symbol = 'GLD') AS price_day,
           (SELECT max(snapshot_date) FROM raw.option_quotes) AS chain_day
), checked AS (
    SELECT latest.*, latest.table_name = 'raw.option_quotes' AND days.chain_day < days.price_day
                     AND latest.status <> 'stale' AS chain_missing,
           days.price_day, days.chain_day
    FROM latest, days
)
SELECT table_name, ingested_at,
       CASE WHEN chain_missing THEN 'partial' ELSE status END AS status,
       CASE WHEN chain_missing
            THEN 'no option chain for ' || price_day || ' (latest snapshot ' || chain_day
                 || '): chain, vol-surface and strategy figures are from ' || chain_day
                 || '; LTV and hedge P/L are current'
            ELSE reason END AS reason,
       rows, first_date, last_date
FROM checked;
