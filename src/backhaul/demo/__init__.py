"""The synthetic world used by `backhaul demo` and by the tests that need believable data."""
