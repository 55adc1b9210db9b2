"""Hypothesis on a shared, loaded machine: no per-example deadline and no "input
generation is slow" health check. Both measure the machine's load, not the code; the
properties themselves are checked as before (the same examples)."""

from hypothesis import HealthCheck, settings

settings.register_profile("pgo", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("pgo")
