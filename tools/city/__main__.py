"""`python -m tools.city --store URL ...`: seed a synthetic city into a police database."""

import argparse
import sys

from tools.city import add_seed_arguments, run_seed

parser = argparse.ArgumentParser(
    prog="python -m tools.city", description="generate a synthetic city into a police database"
)
add_seed_arguments(parser)
sys.exit(run_seed(parser.parse_args()))
