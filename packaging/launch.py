"""Entry script for the PyInstaller bundle: the same `segstudio` command as the installed one."""
from segstudio.cli import run

if __name__ == "__main__":
    run()
