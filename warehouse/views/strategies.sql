-- Convenience views over the strategy tables; recreated on every run.

-- Today's comparison: the latest chain snapshot day's row per template.
CREATE OR REPLACE VIEW analytics.strategy_comparison_latest AS
SELECT * FROM analytics.strategy_comparison
WHERE as_of = (SELECT max(as_of) FROM analytics.strategy_comparison);

-- Today's pick per risk profile (rank 1).
CREATE OR REPLACE VIEW analytics.strategy_pick_latest AS
SELECT r.*, c.display_name, c.cost_at_fill, c.cost_pct_collateral, c.fall_to_margin_call_hedged_pct
FROM analytics.strategy_recommendation r
JOIN analytics.strategy_comparison c USING (as_of, template_id)
WHERE r.rank = 1 AND r.as_of = (SELECT max(as_of) FROM analytics.strategy_recommendation);
