-- Convenience views over the raw market tables; recreated on every run.

CREATE OR REPLACE VIEW raw.gld_daily AS
SELECT date, open, high, low, close, volume, source, fetched_at
FROM raw.prices_daily WHERE symbol = 'GLD';

CREATE OR REPLACE VIEW raw.ingest_status AS
SELECT * FROM raw.ingest_log
QUALIFY row_number() OVER (PARTITION BY table_name ORDER BY ingested_at DESC) = 1;
