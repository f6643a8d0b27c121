"""Steering the portfolio: KPIs over the ledger, the report, arm comparisons, the propensity model's
training. Reads the ledger; never drives a case (that is the service layer's)."""
