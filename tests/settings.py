"""Settings for the test suite: config.settings as on a developer's machine.

The suite is a development run, so DEBUG defaults to on here, as under `make test`
(devtools/embedded.py): with DEBUG off, config.settings refuses to load without a real
SECRET_KEY and ALLOWED_HOSTS. Tests of production settings load them in a subprocess.
"""

import os

os.environ.setdefault("DEBUG", "1")

from config.settings import *  # noqa: E402, F403
