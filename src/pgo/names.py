"""Service names: they become a directory and a compose project name. Kept apart (and
import-light) because pgoctl checks them too and must start fast."""

import re

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
