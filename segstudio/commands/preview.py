"""`segstudio preview`: original | augmented PNGs exactly as training sees them, plus preview.json.

Same code path as training: a SegmentationDataset with train=True and the run seed, epoch 0, so a
training run with the same config and seed receives these very pixels for these rows.
"""
from __future__ import annotations

HELP = 'Write original | augmented PNGs exactly as training sees them.'


def add_arguments(p):
    p.add_argument("url")
    p.add_argument("--config", metavar="FILE", help="run config (TOML); its [data] and [augment] apply")
    p.add_argument("--preset", help="augmentation preset: seed, none, light, strong (or custom from --config)")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: train.seed of the config, 0)")
    p.add_argument("-n", type=int, default=16, help="number of training rows to preview (the first N)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (default: data.endpoint_url of "
                                                        "the config); credentials from AWS_* variables")


def _config(args):
    from segstudio.config import Config, load_config, validate
    from segstudio.errors import ConfigError
    from segstudio.augment import PRESETS

    cfg = load_config(args.config) if args.config else Config()
    if args.preset:
        if args.preset not in PRESETS and args.preset != "custom":
            raise ConfigError(f"--preset {args.preset!r} is unknown; use one of {', '.join(PRESETS)} or custom.")
        cfg.augment.preset = args.preset
    if args.seed is not None:
        if args.seed < 0:
            raise ConfigError("--seed must be 0 or more.")
        cfg.train.seed = args.seed
    if args.endpoint_url is not None:
        cfg.data.endpoint_url = args.endpoint_url
    if args.n < 1:
        raise ConfigError("-n must be at least 1.")
    return validate(cfg)


def _out_dir(path: str):
    from pathlib import Path
    from segstudio.errors import UserError

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create output folder {out} ({exc.strerror}); choose another --out.") from None
    return out


def _picture(raw, prepared, names):
    """Original | as-trained side by side; a small training crop is enlarged (pixels repeated)."""
    from segstudio.render import enlarge, prepared_to_render, raw_to_render, render, side_by_side

    aug_h, aug_w = prepared.image.shape[1:]
    factor = max(1, round(raw.image.shape[0] / max(1, aug_h)))
    shown = f", shown x{factor}" if factor > 1 else ""
    return side_by_side(render(**raw_to_render(raw), class_names=names),
                        render(**enlarge(prepared_to_render(prepared), factor), class_names=names),
                        titles=(f"row {raw.index}: original {raw.image.shape[1]}x{raw.image.shape[0]}",
                                f"as trained, epoch 0: {aug_w}x{aug_h}{shown}"))


def write_preview(url: str, cfg, n: int, out_dir, endpoint_url: str = "") -> dict:
    """Write the PNGs and preview.json; return the JSON document."""
    import json

    import cv2

    from segstudio.augment import report_to_json, resolve_spec
    from segstudio.config import atomic_write_text
    from segstudio.data.mapped import open_mapped
    from segstudio.data.open import strip_secrets
    from segstudio.data.splits import make_split
    from segstudio.errors import UserError
    from segstudio.loader import SegmentationDataset

    mapped = open_mapped(url, cfg.data, endpoint_url=endpoint_url)
    names = mapped.class_names
    rows = make_split(mapped.ds, cfg.data).train[:n]
    dataset = SegmentationDataset(mapped, rows, cfg.augment, train=True, seed=cfg.train.seed)
    for old in out_dir.glob("[0-9][0-9][0-9]_row*.png"):    # an earlier preview's pictures would mislead
        old.unlink()
    samples = []
    for i, row in enumerate(rows):
        raw, prepared = dataset.sample_with_raw(row, epoch=0)   # exactly what training gets at epoch 0
        name = f"{i:03d}_row{row}.png"
        if not cv2.imwrite(str(out_dir / name), _picture(raw, prepared, names)[:, :, ::-1]):
            raise UserError(f"Cannot write {out_dir / name}; check that the folder is writable.")
        samples.append({"row": int(row), "file": name, "instances_in": raw.num_instances,
                        "instances_out": int(len(prepared.target["labels"])),
                        "size_out": list(prepared.image.shape[1:]), **report_to_json(prepared.report)})
    doc = {"url": strip_secrets(url), "version": mapped.version, "preset": cfg.augment.preset,
           "seed": cfg.train.seed, "epoch": 0, "image_size": cfg.augment.image_size, "spec": resolve_spec(cfg.augment),
           "class_names": names, "samples": samples}
    atomic_write_text(out_dir / "preview.json", json.dumps(doc, indent=1, default=str))
    return doc


def run(args) -> int:
    cfg = _config(args)
    out = _out_dir(args.out)
    doc = write_preview(args.url, cfg, args.n, out, endpoint_url=cfg.data.endpoint_url)
    dropped = sum(len(s["dropped"]) for s in doc["samples"])
    print(f"wrote {len(doc['samples'])} previews ({doc['preset']} preset, seed {doc['seed']}, "
          f"{dropped} instances dropped) to {out}; details in {out / 'preview.json'}")
    return 0
