"""Market data sources: embedded history, live yfinance, the exchange calendar and data checks."""
