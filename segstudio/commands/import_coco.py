"""`segstudio import-coco IMAGES_DIR ANNOTATIONS.json DEST [--resume]`."""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("images_dir", help="folder with the image files named in the JSON")
    p.add_argument("annotations", help="COCO instances .json file")
    p.add_argument("dest", help="new dataset path or URL (refused if it exists, unless --resume)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted import into DEST")
    p.add_argument("--chunk-size", type=int, default=32, help="images appended and committed together")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--endpoint-url", default="", help="S3-compatible endpoint for an s3:// DEST; credentials "
                                                      "from AWS_* variables")


def run(args) -> int:
    import json
    import sys

    from tqdm import tqdm

    from segstudio.data.coco_import import import_coco

    bars = []   # created on the first report, so that input errors print without an empty bar
    reads = []  # reading the annotations file (three passes): shown only when it takes over a second

    def close_bars() -> None:
        for bar in reads + bars:
            bar.close()

    def reading(done: int, total: int) -> None:
        if not reads:
            reads.append(tqdm(total=total, unit="B", unit_scale=True, desc="read (3 passes)", delay=1.0,
                              dynamic_ncols=True, leave=False))
        reads[0].update(done - reads[0].n)

    def progress(done: int, total: int) -> None:
        for bar in reads:
            bar.close()
        if not bars:
            bars.append(tqdm(total=total, initial=done, unit="img", desc="import", dynamic_ncols=True,
                             leave=False))
        bars[0].update(done - bars[0].n)

    try:
        summary = import_coco(args.images_dir, args.annotations, args.dest, resume=args.resume,
                              progress=progress, chunk_size=max(1, args.chunk_size),
                              endpoint_url=args.endpoint_url, reading=reading)
    except KeyboardInterrupt:
        close_bars()        # before the message, so that the bar's line is cleared and the message stays
        if not bars:
            print(f"interrupted while reading {args.annotations}; no image was imported.", file=sys.stderr)
        else:
            print(f"interrupted: the images committed so far (about {bars[0].n}) stay in {args.dest}; run the "
                  "same command with --resume to continue.", file=sys.stderr)
        return 130
    finally:
        close_bars()
    print(json.dumps(summary.to_dict(), indent=2) if args.json else summary.format_text())
    return 0
