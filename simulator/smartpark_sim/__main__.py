"""Allow `python -m smartpark_sim`."""

from smartpark_sim.cli import main

main()
