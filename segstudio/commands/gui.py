"""`segstudio gui`: open the window (the default when no subcommand is given)."""


def add_arguments(p):
    p.add_argument("--dataset", metavar="URL", help="dataset to open (default: the demo dataset)")
    p.add_argument("--screenshot", metavar="PNG",
                   help="render the window offscreen once it has loaded, save it as PNG and quit; "
                        "a path containing {tab} saves one PNG per tab")


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


def check_screenshot_path(path: str) -> None:
    """Before any window opens: the picture's folder exists and its name ends in an image format."""
    from pathlib import Path

    from segstudio.base.errors import ConfigError

    target = Path(path.replace("{tab}", "tab")).expanduser()
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(f"--screenshot {path}: the folder {folder} does not exist; create it or pick another path.")
    if target.suffix.lower() not in _IMAGE_SUFFIXES:
        raise ConfigError(f"--screenshot {path} must end in .png (or .jpg, .bmp).")
    if target.is_dir():
        raise ConfigError(f"--screenshot {path} is a folder; give a file name such as {target / 'window.png'}.")


def run(args) -> int:
    if getattr(args, "screenshot", None):
        check_screenshot_path(args.screenshot)
    from segstudio.gui.app import run as run_app  # Qt is imported only when the window is wanted

    return run_app(getattr(args, "dataset", None), getattr(args, "screenshot", None))
