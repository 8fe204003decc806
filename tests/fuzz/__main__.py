"""`python -m tests.fuzz`: the fuzzing campaign (see tests/fuzz/campaign.py)."""
import sys

from .campaign import main

sys.exit(main())
