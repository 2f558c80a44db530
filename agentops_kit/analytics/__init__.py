"""Analytics over a TraceSet: weekly metrics, time saved, error budgets, policy, readiness, shadow mode."""
