"""`segstudio weights list|download NAME|import FILE`: pretrained weights, fetched only when asked."""
from __future__ import annotations

import sys


def add_arguments(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="each known weights file: architecture, trained on, size, present?, where")
    d = sub.add_parser("download", help="download a weights file into torch's cache folder (checksum verified)")
    d.add_argument("name", help="a name from `segstudio weights list` (e.g. maskrcnn_resnet50_fpn_v2_coco)")
    d.add_argument("--base-url", default=None,
                   help="fetch <base-url>/<file name> instead of torchvision's URL (a mirror); "
                        "default: $SEGSTUDIO_WEIGHTS_URL when set")
    i = sub.add_parser("import", help="check a .pth file (downloaded elsewhere, or a colleague's checkpoint) "
                                      "and copy it into torch's cache folder")
    i.add_argument("file")


def _list(out) -> int:
    from segstudio.models.weights import hub_checkpoint_dir, known_weights
    from segstudio.models.weights_import import imported_weights

    rows = [("NAME", "FILE", "FITS", "TRAINED ON", "SIZE", "PRESENT")]
    for k in known_weights():
        rows.append((k.name, k.file_name, ", ".join(k.archs), k.trained_on, f"{k.size_mb:.0f} MB",
                     "yes" if k.present() else "no"))
    for w in imported_weights():
        rows.append(("(imported)", w.path, ", ".join(w.archs), f"imported ({w.kind})", "", "yes"))
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip(), file=out)
    print(f"folder: {hub_checkpoint_dir()}", file=out)
    return 0


def terminal_progress(label: str, stream=None):
    """A tqdm bar fed by download_file's progress(done, total) callback; -> (callback, close)."""
    from tqdm import tqdm

    bar = tqdm(desc=label, unit="B", unit_scale=True, unit_divisor=1024, file=stream or sys.stderr,
               dynamic_ncols=True, disable=None)

    def progress(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.reset(total=total)   # a retry starts again from 0
        bar.update(done - bar.n)
    return progress, bar.close


def download_with_bar(known, base_url=None, stream=None):
    from segstudio.models.weights import fetch_weights

    progress, close = terminal_progress(known.file_name, stream)
    try:
        return fetch_weights(known, progress=progress, base_url=base_url)
    finally:
        close()


def _download(args, out) -> int:
    from segstudio.models.weights import find_weights

    known = find_weights(args.name)
    if known.present():
        print(f"{known.file_name} is already in {known.path.parent}; nothing to download.", file=out)
        return 0
    path = download_with_bar(known, args.base_url)
    print(f"saved {path} (sha256 verified); model.weights = \"{known.kind}\" now uses it for "
          f"{', '.join(known.archs)}.", file=out)
    return 0


def _import(args, out) -> int:
    from segstudio.models.weights_import import import_weights

    result = import_weights(args.file)
    print(f"imported {result.path}: {'a whole detector' if result.kind == 'detector' else 'an ImageNet backbone'} "
          f"for {', '.join(result.archs)}; set model.weights = \"{result.config_value()}\" to use it.", file=out)
    return 0


def run(args) -> int:
    out = sys.stdout
    if args.action == "list":
        return _list(out)
    if args.action == "download":
        return _download(args, out)
    return _import(args, out)
