"""`python -m ablations ...`: see `ablations.cli`."""

from ablations.cli import main

raise SystemExit(main())
