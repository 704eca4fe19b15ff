import sys

from satsim.cli import main

sys.exit(main())
