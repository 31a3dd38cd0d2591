"""Collection rules for the doctests in the packages.

Modules of an optional extra import it at the top; where the extra is not
installed their doctests are not collected (their tests skip the same way).
"""

from __future__ import annotations

import importlib.util

_EXTRA_MODULES = {
    "torch": ["gradtrack/integrations/torch.py"],
    "tinker": ["gradtrack/integrations/tinker.py"],
}

collect_ignore = [
    path
    for package, paths in _EXTRA_MODULES.items()
    if importlib.util.find_spec(package) is None
    for path in paths
]
