import sys

from fractoscope.cli import main

sys.exit(main())
