"""`python -m timesteer` runs the command line (also what `torchrun -m timesteer` starts)."""

import sys

from timesteer._entry import main

if __name__ == "__main__":
    sys.exit(main())
