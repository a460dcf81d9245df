"""The strategy engine: named hedge templates, priced on the day's chain, compared and ranked.

templates.py (definitions), legs.py (listed contracts for a template), valuation.py (repricing a
hedge at another spot, vol or date), comparison.py (today's cost and protection per template),
scenarios.py (stress grid and payoff), recommend.py (ranking per risk profile, sensitivity),
signals.py (protection signal, tail risk), cost_index.py (22-year protection-cost index).
"""
