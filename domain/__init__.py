"""Pure domain: models and decisions. No I/O, no clocks: workflows and tests import it alike."""
