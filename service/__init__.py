"""The service layer: the one way code outside the workflow starts and drives cases.

`service.cases.Cases` starts a case, reads its status and sends it every update and signal of the
public contract, typed, with Temporal's errors turned into the service's own. `service.bulk` starts
cases from CSV or JSONL files through it. Entry points (the command line, the HTTP intake, the daily
intake, the demo, the load test) call these and never each other.
"""
