"""Activities: every side effect of a case, as thin adapters with their dependencies injected."""
