"""`segstudio preview`: original | augmented PNGs exactly as training sees them (segstudio.samples.preview)."""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("url")
    p.add_argument("--config", metavar="FILE", help="run config (TOML); its [data] and [augment] apply")
    p.add_argument("--preset", help="augmentation preset: seed, none, light, strong (or custom from --config)")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: train.seed of the config, 0)")
    p.add_argument("-n", type=int, default=16, help="number of training rows to preview (the first N)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--version", default=None, metavar="VERSION", dest="data_version",
                   help="dataset version to read: a branch, a tag, a commit id or branch@commit")
    p.add_argument("--endpoint-url", default=None, help="S3-compatible endpoint (default: data.endpoint_url of "
                                                        "the config); credentials from AWS_* variables")


def _config(args):
    from segstudio.base.config import Config, load_config, validate
    from segstudio.base.errors import ConfigError
    from segstudio.samples.augment_presets import AUGMENT_PRESETS

    cfg = load_config(args.config) if args.config else Config()
    if args.preset:
        if args.preset not in AUGMENT_PRESETS and args.preset != "custom":
            raise ConfigError(f"--preset {args.preset!r} is unknown; use one of {', '.join(AUGMENT_PRESETS)} "
                              "or custom.")
        cfg.augment.preset = args.preset
    if args.seed is not None:
        if args.seed < 0:
            raise ConfigError("--seed must be 0 or more.")
        cfg.train.seed = args.seed
    if args.endpoint_url is not None:
        cfg.data.endpoint_url = args.endpoint_url
    if args.data_version is not None:
        cfg.data.version, cfg.data.commit = args.data_version, ""
    if args.n < 1:
        raise ConfigError("-n must be at least 1.")
    return validate(cfg)


def run(args) -> int:
    from pathlib import Path

    from segstudio.samples.preview import write_preview

    cfg = _config(args)
    out = Path(args.out)   # write_preview creates it once there is a picture to put in it
    doc = write_preview(args.url, cfg, args.n, out, endpoint_url=cfg.data.endpoint_url)
    dropped = sum(len(s["dropped"]) for s in doc["samples"])
    print(f"wrote {len(doc['samples'])} previews ({doc['preset']} preset, seed {doc['seed']}, "
          f"{dropped} instances dropped) to {out}; details in {out / 'preview.json'}")
    return 0
