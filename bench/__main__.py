"""`python -m bench`: Wharf next to CNCF distribution on loopback."""

import sys

from bench.run import main

sys.exit(main())
