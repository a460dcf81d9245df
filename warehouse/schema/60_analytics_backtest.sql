-- Backtests (pipeline/backtest/, docs/backtests.md): named selloff windows, hedge policies replayed
-- over them, the policy sweep and its optimum, and Monte Carlo margin-call probabilities.
-- Column docs and units: warehouse/README.md "Backtest tables". Fractions are decimals
-- (0.05 = 5 %), money in USD, prices in USD per GLD share.

CREATE SCHEMA IF NOT EXISTS analytics;

-- One row per event window: the presets of pipeline/backtest/events.py and the user's [[backtest.events]].
CREATE TABLE IF NOT EXISTS analytics.backtest_events (
    event_id            VARCHAR NOT NULL PRIMARY KEY,
    label               VARCHAR NOT NULL,
    source              VARCHAR NOT NULL,  -- preset | user
    start_date          DATE    NOT NULL,  -- the hedge is bought on this day's close
    end_date            DATE    NOT NULL,  -- the event's last day (the trough for presets)
    path_end_date       DATE    NOT NULL,  -- end_date plus tail_days trading days (capped at the last close)
    tail_days           INTEGER NOT NULL,
    trading_days        INTEGER NOT NULL,  -- closes from start_date to path_end_date
    start_close         DOUBLE  NOT NULL,
    end_close           DOUBLE  NOT NULL,
    low_close           DOUBLE  NOT NULL,  -- lowest close in start_date .. end_date
    low_date            DATE    NOT NULL,
    drawdown            DOUBLE  NOT NULL,  -- low_close / start_close - 1 (negative in a selloff)
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')
);

-- One row per event x policy: the named templates (and 'unhedged') replayed on the event window.
-- Every hedged_* figure has its unhedged_* twin on the same row (same loan, same closes).
CREATE TABLE IF NOT EXISTS analytics.backtest_runs (
    event_id                  VARCHAR NOT NULL,
    policy_id                 VARCHAR NOT NULL,  -- the template_id, or 'unhedged'
    template_id               VARCHAR,           -- null for 'unhedged'
    provider                  VARCHAR NOT NULL,  -- synthetic | snapshots | mixed
    hedge_ratio               DOUBLE  NOT NULL,  -- share of the collateral covered (0 unhedged)
    roll_dte                  INTEGER NOT NULL,
    budget_cap                DOUBLE,            -- premium per rolling 365 days / collateral value; null = none
    signal                    VARCHAR NOT NULL,  -- none | alma
    start_date                DATE    NOT NULL,
    path_end_date             DATE    NOT NULL,
    initial_ltv               DOUBLE  NOT NULL,
    loan_start                DOUBLE  NOT NULL,
    margin_call_ltv           DOUBLE  NOT NULL,
    survived                  BOOLEAN NOT NULL,  -- hedged LTV stayed below margin_call_ltv every day
    max_ltv                   DOUBLE  NOT NULL,  -- hedged
    max_ltv_date              DATE    NOT NULL,
    first_breach_date         DATE,
    final_equity              DOUBLE  NOT NULL,  -- collateral + hedge mark - loan - net cash spent
    hedge_cost_total          DOUBLE  NOT NULL,  -- premium paid (long legs at the ask) minus premium received (short legs at the bid)
    hedge_cost_annualised_pct DOUBLE  NOT NULL,  -- sum over openings of net premium / collateral value that day, per year
    payoff_received           DOUBLE  NOT NULL,  -- cash from hedges: sales at the bid and expiry payoffs, net of buy-backs
    sharpe                    DOUBLE,            -- of daily equity returns, x sqrt(252); null when flat
    max_drawdown              DOUBLE  NOT NULL,  -- of equity, as a fraction of its running peak (<= 0)
    win_rate                  DOUBLE,            -- share of days with an equity gain
    profit_factor             DOUBLE,            -- sum of daily gains / sum of daily losses; null without losses
    trades                    INTEGER NOT NULL,  -- hedge positions opened
    unhedged_survived         BOOLEAN NOT NULL,
    unhedged_max_ltv          DOUBLE  NOT NULL,
    unhedged_max_ltv_date     DATE    NOT NULL,
    unhedged_first_breach_date DATE,
    unhedged_final_equity     DOUBLE  NOT NULL,
    unhedged_sharpe           DOUBLE,
    unhedged_max_drawdown     DOUBLE  NOT NULL,
    unhedged_win_rate         DOUBLE,
    unhedged_profit_factor    DOUBLE,
    rank                      INTEGER NOT NULL,  -- 1 = best in the event: survived, then lower max_ltv, then lower cost
    methodology_version       VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id                    VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),
    PRIMARY KEY (event_id, policy_id, provider)
);

-- Daily paths of the runs above.
CREATE TABLE IF NOT EXISTS analytics.backtest_paths (
    event_id          VARCHAR NOT NULL,
    policy_id         VARCHAR NOT NULL,
    provider          VARCHAR NOT NULL,
    date              DATE    NOT NULL,
    gld_close         DOUBLE  NOT NULL,
    collateral_value  DOUBLE  NOT NULL,
    hedge_value       DOUBLE  NOT NULL,  -- held legs at mid (short legs negative); 0 unhedged
    cash_spent        DOUBLE  NOT NULL,  -- cumulative net cash into hedges (premium paid - received) and cures
    loan              DOUBLE  NOT NULL,
    unhedged_ltv      DOUBLE  NOT NULL,  -- loan / collateral_value
    hedged_ltv        DOUBLE  NOT NULL,  -- loan / (collateral_value + hedge_value)
    equity            DOUBLE  NOT NULL,
    breach            BOOLEAN NOT NULL,  -- hedged_ltv >= margin_call_ltv
    price_source      VARCHAR NOT NULL,  -- what marked the hedge that day: synthetic | snapshot | none
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),
    PRIMARY KEY (event_id, policy_id, provider, date)
);

-- One row per swept policy (pipeline/backtest/sweep.py), over every event.
CREATE TABLE IF NOT EXISTS analytics.backtest_sweep (
    policy_id        VARCHAR NOT NULL PRIMARY KEY,  -- e.g. put_m0.950_t91_r21_h0.75_l1_s0
    family           VARCHAR NOT NULL,  -- tenor_<days>d: the Dagster split (one asset per tenor)
    moneyness        DOUBLE  NOT NULL,  -- top rung strike / spot
    tenor_days       INTEGER NOT NULL,
    roll_dte         INTEGER NOT NULL,
    hedge_ratio      DOUBLE  NOT NULL,
    ladder_rungs     INTEGER NOT NULL,  -- 1, 2 or 3 puts, 5 % of spot apart, equal weights
    signal           BOOLEAN NOT NULL,  -- hedge only while GLD closes below its ALMA
    events           INTEGER NOT NULL,
    events_survived  INTEGER NOT NULL,
    survived_all     BOOLEAN NOT NULL,
    worst_max_ltv    DOUBLE  NOT NULL,  -- highest hedged LTV over every event
    total_cost       DOUBLE  NOT NULL,  -- hedge_cost_total (USD) of the policy on the 'full' event, 2004 to the last close
    cost_annualised_pct DOUBLE NOT NULL, -- on the 'full' event: sum of net premium / collateral value at each opening, per year
    on_frontier      BOOLEAN NOT NULL,  -- Pareto-efficient in (cost_annualised_pct, worst_max_ltv)
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id')
);

-- The optimizer's pick and the cost vs worst-LTV frontier it was picked from.
CREATE TABLE IF NOT EXISTS analytics.hedge_policy_optimum (
    kind             VARCHAR NOT NULL,  -- optimum | frontier
    policy_id        VARCHAR NOT NULL,
    family           VARCHAR NOT NULL,
    moneyness        DOUBLE  NOT NULL,
    tenor_days       INTEGER NOT NULL,
    roll_dte         INTEGER NOT NULL,
    hedge_ratio      DOUBLE  NOT NULL,
    ladder_rungs     INTEGER NOT NULL,
    signal           BOOLEAN NOT NULL,
    survived_all     BOOLEAN NOT NULL,
    worst_max_ltv    DOUBLE  NOT NULL,
    cost_annualised_pct DOUBLE NOT NULL,
    ltv_cap          DOUBLE  NOT NULL,  -- margin_call_ltv - ltv_buffer: the optimum keeps worst_max_ltv below it
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),
    PRIMARY KEY (kind, policy_id)
);

-- Monte Carlo: probability of a margin call within horizon_days, unhedged and under each template.
CREATE TABLE IF NOT EXISTS analytics.margin_call_probability (
    horizon_days     INTEGER NOT NULL,  -- 30 | 90 | 180 | 365 trading days
    policy_id        VARCHAR NOT NULL,  -- 'unhedged' or a template_id
    probability      DOUBLE  NOT NULL,
    ci_low           DOUBLE  NOT NULL,  -- 95 % Wilson interval
    ci_high          DOUBLE  NOT NULL,
    paths            INTEGER NOT NULL,
    seed             BIGINT  NOT NULL,
    method           VARCHAR NOT NULL,  -- e.g. stationary_block_bootstrap(mean_block=20)
    start_date       DATE    NOT NULL,  -- the day the simulation starts from (latest close)
    start_ltv        DOUBLE  NOT NULL,
    methodology_version VARCHAR NOT NULL DEFAULT getvariable('vault_methodology_version'),
    run_id              VARCHAR NOT NULL DEFAULT getvariable('vault_run_id'),
    PRIMARY KEY (horizon_days, policy_id)
);
