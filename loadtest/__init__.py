"""Benchmarks and fault drills: whole deployments on this machine, measured and broken on purpose."""
