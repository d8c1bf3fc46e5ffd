"""The ``cosmo`` console script (filled in by the dev-synapse work)."""


def run() -> None:
    print("cosmo 0.2.0")
