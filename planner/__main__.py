"""``python -m planner``: the ``hexroute`` command without the installed script."""
import sys

from planner.cli import main

sys.exit(main())
