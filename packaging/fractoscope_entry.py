"""Entry point of the frozen executables (fractoscope and fractoscope-cli): the normal CLI."""

import multiprocessing
import sys

if __name__ == "__main__":
    # Worker processes (synth's process pool, training data loaders) re-run this executable.
    multiprocessing.freeze_support()
    from fractoscope.cli import main

    sys.exit(main())
