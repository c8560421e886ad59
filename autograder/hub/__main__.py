"""`python -m autograder.hub` (what `make hub` runs): see autograder/hub/launch.py."""

import sys

from autograder.hub.launch import main

sys.exit(main())
