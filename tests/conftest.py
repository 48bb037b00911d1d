"""Settings for the whole suite."""

from hypothesis import settings

# No time limits in tests: these machines are noisy, and a property test must fail on a
# wrong answer, never on a slow one (phonenumbers loads its metadata on first use).
settings.register_profile("touchline", deadline=None)
settings.load_profile("touchline")
