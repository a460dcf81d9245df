-- The alert history log (pipeline/alerts/state.py): one row per state change of a (rule, subject)
-- condition, with its delivery bookkeeping. It is a LOG, not derived data: it cannot be recomputed,
-- so it lives in its own schema `history`, which apply_schema never drops (only `analytics` tables
-- are rebuilt when their columns change). Readers use the view `analytics.alerts`
-- (warehouse/views/portfolio.sql). A column change here needs a hand migration.

CREATE SCHEMA IF NOT EXISTS history;

CREATE TABLE IF NOT EXISTS history.alerts (
    alert_id        VARCHAR     NOT NULL PRIMARY KEY,  -- rule|subject|first_seen (+ '|leave')
    rule            VARCHAR     NOT NULL,  -- ltv_warn | ltv_critical | ltv_liquidation | selloff | hedge_expiring | hedge_triage | data_stale
    subject         VARCHAR     NOT NULL,  -- 'portfolio', a position_id or a raw table
    level           VARCHAR     NOT NULL,  -- info | warning | critical
    event           VARCHAR     NOT NULL,  -- enter | leave
    message         VARCHAR     NOT NULL,
    "values"        VARCHAR     NOT NULL,  -- JSON: the numbers that triggered it
    first_seen      TIMESTAMPTZ NOT NULL,
    last_seen       TIMESTAMPTZ NOT NULL,
    delivery_status VARCHAR     NOT NULL,  -- pending | sent | suppressed (cooldown) | disabled
    attempts        BIGINT      NOT NULL,
    last_attempt_at TIMESTAMPTZ,
    last_error      VARCHAR,               -- never holds the SMTP password (masked)
    sent_at         TIMESTAMPTZ
);
