"""How cases come in from the loan system: the HTTP webhook service, the daily Schedule, and bulk files
(`intake.bulk`, whose code is `service.bulk`, shared with `starter.py bulk`)."""
