"""`segstudio train`: train from a TOML config (or the defaults on the demo dataset), resume or extend a run.

A progress bar in a terminal, plain log lines otherwise. The first Ctrl+C asks the engine to stop (it
writes last.pt and returns within an iteration); a second one aborts at once.
"""
from __future__ import annotations

import signal
import sys
import threading

from segstudio.base.pace import Pace
from segstudio.engine.events import format_duration


def add_arguments(p):
    p.add_argument("--config", metavar="FILE", help="TOML config; default: built-in defaults on the demo data")
    p.add_argument("--resume", metavar="RUN", help="continue a run (folder or name under runs/) from last.pt")
    p.add_argument("--extend-epochs", type=int, default=0, metavar="N",
                   help="with --resume: add N epochs to the run's config")
    p.add_argument("--runs-dir", metavar="DIR", help="override train.runs_dir")
    p.add_argument("--version", default=None, metavar="VERSION", dest="data_version",
                   help="dataset version to train on: a branch, a tag, a commit id or branch@commit "
                        "(default: the main branch; same as --set data.version=...)")
    p.add_argument("--max-iters", type=int, metavar="N", help="override train.max_iters")
    p.add_argument("--download-weights", action="store_true",
                   help="download the pretrained weights model.weights names when they are not here yet "
                        "(without it, a terminal asks first)")
    p.add_argument("--find-lr", action="store_true",
                   help="instead of training, run the learning-rate range test on the config's data and model "
                        "(a short sweep from 1e-6 to 1, nothing written) and print the loss curve and a "
                        "suggested train.lr (train.max_iters or --max-iters N, when under 80, shortens the "
                        "sweep to N steps)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="override one setting, e.g. --set train.lr=1e-4 (repeatable); with --resume it "
                        "changes the run (optimiser, epochs, evaluation) and is recorded in its config.toml")


def _ema_note(event) -> str:
    """With train.ema the metrics are the average's; the trained weights' own mask AP follows."""
    if getattr(event, "weights", "model") != "ema":
        return ""
    return f" [EMA weights; the model's own mask AP {event.model_metrics.get('segm_map', 0):.3f}]"


def _short_losses(losses: dict) -> str:
    return " ".join(f"{k.removeprefix('loss_')}={v:.3f}" for k, v in losses.items())


class ConsoleReporter:
    """Events -> a tqdm bar (terminal) or one log line every few seconds (not a terminal)."""

    def __init__(self, stream=None, every_s: float = 5.0):
        self.stream, self.every_s = stream if stream is not None else sys.stderr, every_s
        stream = self.stream
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.bar = None
        self._pace = Pace(every_s)

    def __call__(self, event) -> None:
        kind = event.kind
        if kind == "iteration":
            self._iteration(event)
        elif kind == "started":
            self._line(f"run {event.run_dir}: {event.train_images} train / {event.val_images} val images, "
                       f"{event.total_iters} iterations on {event.device}"
                       + (f", from {event.weights}" if event.weights else "")
                       + (f", resuming at {event.start_iteration}" if event.start_iteration else ""))
            if self.tty:
                from tqdm import tqdm
                self.bar = tqdm(total=event.total_iters, initial=event.start_iteration, file=self.stream,
                                unit="it", dynamic_ncols=True)
        elif kind == "eval":
            m = event.metrics
            self._line(f"eval epoch {event.epoch + 1}: mask AP {m.get('segm_map', 0):.3f} "
                       f"AP50 {m.get('segm_map_50', 0):.3f} | box AP {m.get('bbox_map', 0):.3f} "
                       f"AP50 {m.get('bbox_map_50', 0):.3f}"
                       + (f" | val loss {event.val_losses['loss']:.3f}" if event.val_losses else "")
                       + f" ({event.duration_s:.0f} s)" + _ema_note(event))
        elif kind == "epoch":
            self._line(f"epoch {event.epoch + 1} done at iteration {event.iteration}: "
                       f"{_short_losses(event.mean_losses)} ({event.duration_s:.0f} s)")
        elif kind in ("warning", "error"):
            self._line(f"{kind}: {event.message}")
        elif kind == "bad_row":
            more = f" ({event.skipped} skipped so far)" if event.action == "skipped" else ""
            self._line(f"bad row: {event.message}{more}")
        elif kind == "finished":
            if self.bar is not None:
                self.bar.close()
                self.bar = None
            if not event.run_dir:   # failed before the run folder existed: the error line said it all
                return
            best = f", best mask AP {event.best_metric:.3f}" if event.best_metric is not None else ""
            self._line(f"{event.status} at iteration {event.iteration}{best}: {event.run_dir}")

    def _iteration(self, e) -> None:
        text = f"loss={e.loss:.3f} {_short_losses(e.losses)} lr={e.lr:.2e} {e.images_per_s:.1f} img/s"
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(e.iteration - self.bar.n)
            return
        if self._pace.due(force=e.iteration == e.total_iters):
            self._line(f"it {e.iteration}/{e.total_iters} ep {e.epoch + 1} {text} "
                       f"wait {e.data_wait:.0%} eta {format_duration(e.eta_s)}")

    def _line(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)


def install_stop_handler(stop: threading.Event):
    """First SIGINT: request a graceful stop. Second: KeyboardInterrupt as usual."""
    def handler(signum, frame):
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("\nstopping after this iteration (Ctrl+C again to abort)...", file=sys.stderr, flush=True)
    if threading.current_thread() is threading.main_thread():
        return signal.signal(signal.SIGINT, handler)
    return None


def load_cli_config(args):
    """The config a new run starts from: --config (or the machine's preset), then --runs-dir, --max-iters, --set."""
    from segstudio.base.config import apply_overrides, load_config, parse_overrides
    from segstudio.base.config_presets import load_preset

    cfg = load_config(args.config) if args.config else load_preset()   # gpu preset with a GPU, else cpu
    overrides = parse_overrides(args.overrides)
    if args.runs_dir:
        overrides.setdefault("train.runs_dir", args.runs_dir)
    if args.max_iters is not None:
        overrides.setdefault("train.max_iters", args.max_iters)
    if getattr(args, "data_version", None) is not None:   # callers other than the parser may not set it
        overrides.setdefault("data.version", args.data_version)
    if "data.version" in overrides:
        overrides.setdefault("data.commit", "")   # a config copied from a run card pins its commit: the new choice wins
    return apply_overrides(cfg, overrides)


def resume_overrides(args) -> dict:
    """What --set (and --max-iters) change on a resumed run."""
    from segstudio.base.config import parse_overrides

    overrides = parse_overrides(args.overrides)
    if args.max_iters is not None:
        overrides.setdefault("train.max_iters", args.max_iters)
    return overrides


def offer_missing_weights(cfg, args, ask=input, stream=None) -> bool:
    """model.weights names torchvision weights that are not here: download them after a yes at the
    terminal or with --download-weights; -> whether a download ran. Otherwise the engine's one sentence
    says how to get them."""
    from segstudio.models.weights import weights_for

    kind = (cfg.model.weights or "").strip().lower()
    known = weights_for(cfg.model.arch, kind) if kind in ("coco", "imagenet") and not args.resume else None
    if known is None or known.present():
        return False
    if not getattr(args, "download_weights", False):
        if not sys.stdin.isatty():
            return False
        question = (f"model.weights = \"{kind}\" needs {known.file_name} ({known.size_mb:.0f} MB), which is not in "
                    f"{known.path.parent}. Download it from {known.download_url()} now? [y/N] ")
        if ask(question).strip().lower() not in ("y", "yes"):
            return False
    from segstudio.commands.weights import download_with_bar
    download_with_bar(known, stream=stream)
    return True


def run(args) -> int:
    from segstudio.base.errors import ConfigError
    from segstudio.engine.train import train

    if args.extend_epochs < 0:
        raise ConfigError(f"--extend-epochs must be 0 or more; got {args.extend_epochs}.")
    if args.extend_epochs and not args.resume:
        raise ConfigError("--extend-epochs needs --resume RUN; name the run to extend.")
    if args.resume and getattr(args, "data_version", None) is not None:
        raise ConfigError("--resume continues on the dataset version the run recorded; drop --version (start a "
                          "new run to train on another version).")
    if args.resume and args.config:
        raise ConfigError("--resume continues a run with its own config.toml; drop --config (change settings "
                          "with --set key=value).")
    if args.find_lr:
        if args.resume:
            raise ConfigError("--find-lr sweeps a new run's settings; drop --resume (or run it with the run's "
                              "config.toml as --config).")
        cfg = load_cli_config(args)
        return find_lr(cfg, steps=min(cfg.train.max_iters or 80, 80))
    if args.resume:
        from segstudio.base.config import Config, apply_overrides
        cfg = apply_overrides(Config(), {"train.runs_dir": args.runs_dir}) if args.runs_dir else Config()
        overrides = resume_overrides(args)
    else:
        cfg, overrides = load_cli_config(args), {}
        offer_missing_weights(cfg, args)
    stop = threading.Event()
    previous = install_stop_handler(stop)
    try:
        finished = train(cfg, ConsoleReporter(), stop.is_set, resume=args.resume,
                         extend_epochs=args.extend_epochs or 0, overrides=overrides)
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return 1 if finished.status == "failed" else 0


def find_lr(cfg, steps: int = 80, stream=None) -> int:
    """`--find-lr`: the sweep with a progress line, then its table and the suggestion."""
    from segstudio.engine.lr_finder import find_lr as sweep_lr

    stream = stream if stream is not None else sys.stderr
    stop = threading.Event()
    previous = install_stop_handler(stop)

    def progress(i, n, lr, loss):
        if i == 1 or i % 10 == 0 or i == n:
            print(f"lr sweep {i}/{n}: lr={lr:.2e} loss={loss:.3f}", file=stream, flush=True)

    try:
        sweep = sweep_lr(cfg, iters=steps, on_progress=progress, should_stop=stop.is_set,
                         warn=lambda m: print(f"warning: {m}", file=stream, flush=True))
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    print(format_sweep(sweep))
    return 0 if sweep.suggestion is not None else 1


def format_sweep(sweep) -> str:
    """The loss-vs-lr table (a bar per row for the smoothed loss) and the suggestion with its rule."""
    rows = sweep.table()
    lines = ["lr          loss     smoothed"]
    top = max((r[2] for r in rows), default=1.0) or 1.0
    for lr, loss, smoothed in rows:
        lines.append(f"{lr:<10.2e}  {loss:<7.3f}  {smoothed:<7.3f}  {'#' * max(1, round(30 * smoothed / top))}")
    if sweep.stopped:
        lines.append(f"(the sweep stopped early: {sweep.stopped})")
    if sweep.suggestion is None:
        lines.append("Too few steps to suggest a learning rate; let the sweep run longer.")
    else:
        lines.append(f"suggested train.lr = {sweep.suggestion:.2g} ({sweep.rule}); the lowest smoothed loss / 10 "
                     f"gives {sweep.min_loss_lr:.2g}. Use it with --set train.lr={sweep.suggestion:.2g}")
    return "\n".join(lines)
