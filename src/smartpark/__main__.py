"""Allow `python -m smartpark`."""

from smartpark.cli import main

main()
