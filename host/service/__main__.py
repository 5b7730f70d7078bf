"""``python -m semcom_host.service serve|keys``: see cli.py."""
import sys

from .cli import main

sys.exit(main())
