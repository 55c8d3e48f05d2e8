"""`python -m simulators [--size demo] [--seed 1] [--ports 8701 8702 8703] …`: serve the three simulators."""

from simulators.cluster import main

main()
