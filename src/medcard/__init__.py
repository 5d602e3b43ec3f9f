"""medcard: the electronic medical record of a city's children's outpatient clinics."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("medcard")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
