"""The borrower simulator."""
