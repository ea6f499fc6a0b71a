"""Allow ``python -m tokenlab``, the same as the ``tokenlab`` command."""

from tokenlab.cli import main

raise SystemExit(main())
