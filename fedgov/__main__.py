"""`python -m fedgov` is the `fedgov` command."""

import sys

from fedgov.cli.main import main

sys.exit(main())
