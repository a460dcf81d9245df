-- Convenience views over the warehouse. Recreated on every run; safe to query read-only.

CREATE OR REPLACE VIEW analytics.ltv_latest AS
SELECT * FROM analytics.ltv_daily
WHERE date = (SELECT max(date) FROM analytics.ltv_daily);

CREATE OR REPLACE VIEW raw.gld_daily AS
SELECT date, open, high, low, close, volume, source, fetched_at
FROM raw.prices_daily WHERE symbol = 'GLD';

CREATE OR REPLACE VIEW raw.ingest_status AS
SELECT * FROM raw.ingest_log
QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY ingested_at DESC) = 1;
