"""The Lombard position: collateral, loan, LTV and (later) held hedges."""
