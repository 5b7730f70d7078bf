"""gr-semcom's host side: the semantic schemes, the service, the apps and the `semcom` command line."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gr-semcom")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "unknown"

del PackageNotFoundError, version
