"""Allow ``python -m sendbench``."""

from sendbench.cli import main

main()
