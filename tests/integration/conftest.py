from __future__ import annotations

import sys
from pathlib import Path

# The runtime tests run functions from tasks_for_tests as python jobs.
sys.path.insert(0, str(Path(__file__).parent))
