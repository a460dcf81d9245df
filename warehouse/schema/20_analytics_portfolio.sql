-- The Lombard position: daily loan-to-value of the configured portfolio.

CREATE SCHEMA IF NOT EXISTS analytics;

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
