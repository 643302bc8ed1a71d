"""Entry script for the PyInstaller bundle: the same `segstudio` command as the installed one."""
import sys

from segstudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
