"""`segstudio audit`: what the augmentation pipeline does to the dataset (segstudio.audit), optionally next
to another pipeline."""
from __future__ import annotations


def add_arguments(p):
    p.add_argument("url")
    p.add_argument("--config", metavar="FILE", help="run config (TOML); its [data], [augment], [model] and "
                                                    "[train] seed apply (default: the built-in settings)")
    p.add_argument("--rows", type=int, default=500, metavar="N", help="training rows audited (a fixed sample "
                                                                     "when there are more; default 500)")
    p.add_argument("--draws", type=int, default=4, metavar="D",
                   help="draws per row: the samples of epochs 0..D-1, with training's seeds (default 4)")
    p.add_argument("--compare", metavar="OTHER", help="another config (TOML) or augmentation preset "
                                                      "(seed, none, light, multiscale, strong) to audit alongside")
    p.add_argument("--workers", type=int, default=None, help="loader processes (default: train.workers)")
    p.add_argument("--json", action="store_true", help="print the audit as JSON")
    p.add_argument("--no-cache", action="store_true", help="audit again even when a cached audit matches")


def _config(path):
    from segstudio.base.config import Config, load_config, validate

    return validate(load_config(path)) if path else Config()


def _other_config(args, cfg):
    """--compare as a config file, or the current config with another augmentation preset."""
    import copy
    from pathlib import Path

    from segstudio.base.errors import ConfigError
    from segstudio.samples.augment_presets import AUGMENT_PRESETS

    if args.compare in AUGMENT_PRESETS:
        other = copy.deepcopy(cfg)
        other.augment.preset = args.compare
        return other, f"{args.compare} preset"
    if not Path(args.compare).suffix == ".toml" and not Path(args.compare).exists():
        raise ConfigError(f"--compare {args.compare!r} is neither a config file nor an augmentation preset; "
                          f"give a .toml file or one of {', '.join(AUGMENT_PRESETS)}.")
    other = _config(args.compare)
    # the same rows and draws: the compared config brings its pipeline and model, not its data or seed
    other.data, other.train.seed = copy.deepcopy(cfg.data), cfg.train.seed
    return other, Path(args.compare).name


def _check(args):
    from segstudio.base.errors import ConfigError

    if args.rows < 1:
        raise ConfigError(f"--rows must be at least 1; got {args.rows}.")
    if args.draws < 1:
        raise ConfigError(f"--draws must be at least 1; got {args.draws}.")
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must be 0 or more; got {args.workers}.")


def _audit(mapped, cfg, args, desc: str):
    import sys

    from tqdm import tqdm

    from segstudio.audit.run import audit_mapped

    with tqdm(total=args.rows * args.draws, unit="sample", desc=desc, delay=1.0, file=sys.stderr,
              disable=None) as bar:
        def progress(done, total):
            bar.total = total
            bar.update(done - bar.n)

        return audit_mapped(mapped, cfg, rows=args.rows, draws=args.draws, workers=args.workers,
                            progress=progress, use_cache=not args.no_cache)


def run(args) -> int:
    import json

    from segstudio.audit.report import compare_table, report_lines, to_json
    from segstudio.data.mapped import open_mapped

    _check(args)
    cfg = _config(args.config)
    other_cfg, other_name = _other_config(args, cfg) if args.compare else (None, "")
    mapped = open_mapped(args.url, cfg.data, endpoint_url=cfg.data.endpoint_url)
    result = _audit(mapped, cfg, args, "audit")
    other = _audit(mapped, other_cfg, args, f"audit {other_name}") if other_cfg is not None else None
    if args.json:
        doc = to_json(result)
        if other is not None:
            doc = {"current": doc, "compare": {"name": other_name, **to_json(other)}}
        print(json.dumps(doc, indent=1))
        return 0
    print("\n".join(report_lines(result)))
    if other is not None:
        print(f"\nCompared with {other_name}:")
        print("\n".join(report_lines(other)))
        print("")
        print("\n".join(compare_table(result, other, "current", other_name)))
    return 0
