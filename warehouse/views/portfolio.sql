-- Convenience views over the portfolio tables; recreated on every run.

CREATE OR REPLACE VIEW analytics.ltv_latest AS
SELECT * FROM analytics.ltv_daily
WHERE date = (SELECT max(date) FROM analytics.ltv_daily);
