"""`segstudio demo-data [DEST]`: generate the synthetic demo dataset and say what was written."""
from segstudio.base.errors import ConfigError


def add_arguments(p):
    p.add_argument("dest", nargs="?", help="where to write it (default: the user data folder)")
    p.add_argument("--images", type=int, default=300, help="number of images (default 300)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset")


def _summary(path: str) -> str:
    import deeplake
    import numpy as np

    ds = deeplake.open_read_only(path)
    labels = ds["categories"][:]
    instances = sum(int(np.asarray(v).size) for v in labels)
    classes = len(ds["categories"].metadata["class_names"])
    return f"{len(ds)} images, {instances} instances, {classes} classes"


def run(args) -> int:
    from tqdm import tqdm

    from segstudio.data.demo import check_destination, create_demo_dataset, default_demo_path

    if args.images < 1:
        raise ConfigError(f"--images must be at least 1, not {args.images}; pass a positive number.")
    dest = args.dest or default_demo_path()
    check_destination(dest, args.overwrite)    # refuse before drawing a progress bar
    with tqdm(total=args.images, unit="img", desc="demo dataset") as bar:
        def progress(done: int, total: int) -> None:
            bar.update(done - bar.n)

        path = create_demo_dataset(dest, num_images=args.images, overwrite=args.overwrite,
                                   progress=progress)
    print(path)
    print(_summary(path))
    return 0
