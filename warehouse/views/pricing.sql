-- Convenience views over the option tables; recreated on every run. `source` stays in every
-- view so a model chain is never shown as market quotes.

-- The latest chain snapshot, valued (offline this is the model chain: source = 'model').
CREATE OR REPLACE VIEW analytics.chain_latest AS
SELECT * FROM analytics.option_valuations
WHERE snapshot_date = (SELECT max(snapshot_date) FROM analytics.option_valuations);

-- What each stored snapshot day holds: row count, source, share of clean rows.
CREATE OR REPLACE VIEW analytics.chain_snapshots AS
SELECT snapshot_date, source, count(*) AS contracts, count(DISTINCT expiry) AS expiries,
       avg(CASE WHEN quality_flags = '' THEN 1.0 ELSE 0.0 END) AS clean_share
FROM analytics.option_valuations
GROUP BY snapshot_date, source;

CREATE OR REPLACE VIEW analytics.vol_surface_latest AS
SELECT * FROM analytics.vol_surface_daily
WHERE date = (SELECT max(date) FROM analytics.vol_surface_daily);
