"""How cases come in from the loan system: bulk files, the HTTP webhook service, the daily Schedule."""
