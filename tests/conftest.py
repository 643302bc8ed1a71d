"""Shared fixtures. Qt runs offscreen and nothing touches the network."""
import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TORCH_HOME", os.path.join(os.path.dirname(__file__), ".torch-home-empty"))

from pathlib import Path

import pytest
from export_child import IN_CHILD_ENV, IN_CHILD_FILES

ROOT = Path(__file__).resolve().parent.parent
COCO128 = ROOT.parent / "shared" / "data" / "coco128"
SCREENSHOTS = ROOT / "tests" / "screenshots"


@pytest.fixture(autouse=True)
def _own_report_cache(tmp_path_factory, monkeypatch):
    """Each test gets an empty report cache (data.scan), never the user's."""
    monkeypatch.setenv("SEGSTUDIO_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def demo_dataset(tmp_path_factory) -> str:
    """A small demo dataset (48 images), generated once per test session; open it read-only."""
    from segstudio.data.demo import create_demo_dataset

    path = tmp_path_factory.mktemp("demo") / "demo"
    create_demo_dataset(str(path), num_images=48, seed=0)
    return str(path)


@pytest.fixture(scope="session")
def demo_small(tmp_path_factory) -> str:
    """A 12-image demo dataset, for tests that upload it to a test server."""
    from segstudio.data.demo import create_demo_dataset

    path = tmp_path_factory.mktemp("demo_small") / "demo"
    create_demo_dataset(str(path), num_images=12, seed=0)
    return str(path)


def _append_copies(ds, rows):
    """Append copies of `rows` (every column) and commit."""
    columns = [c.name for c in ds.schema.columns]
    ds.append({name: [ds[name][r] for r in rows] for name in columns})


@pytest.fixture(scope="session")
def versioned_dataset(tmp_path_factory):
    """A 12-row demo dataset: tag v1 at 12 rows; branch exp with 16 rows; main moved on to 14 rows.
    Returns (url, {name: commit id}), commit ids as Deep Lake numbers them (per branch)."""
    import deeplake

    from segstudio.data.demo import create_demo_dataset

    url = str(tmp_path_factory.mktemp("versioned") / "ds")
    create_demo_dataset(url, num_images=12, seed=0)
    ds = deeplake.open(url)
    ids = {"v1": ds.version}
    ds.tag("v1")
    ds.branch("exp")
    exp = ds.branches["exp"].open()
    _append_copies(exp, [0, 1, 2, 3])
    exp.commit("four more rows on exp")
    ids["exp"] = exp.version
    _append_copies(ds, [4, 5])
    ds.commit("two more rows on main")
    ids["main"] = ds.version
    return url, ids


@pytest.fixture(scope="session")
def coco128() -> Path:
    """The shared coco128 sample; tests using it skip when shared/ is absent."""
    if not (COCO128 / "annotations.json").exists():
        pytest.skip("shared/data/coco128 is not present")
    return COCO128


@pytest.fixture
def screenshot_dir() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session", autouse=True)
def private_rows_cache(tmp_path_factory):
    """No test reads or fills the user's cache of remote rows (spawned workers inherit the variable)."""
    os.environ["SEGSTUDIO_CACHE_DIR"] = str(tmp_path_factory.mktemp("rows-cache"))


# deeplake 4.7.4's native exit handlers can deadlock after its storage threads met a stopped S3 server
# (seen here: the main thread joining a deeplake thread pool in exit() for 15+ minutes after pytest had
# printed its summary). Once pytest is completely done, leave without running native exit handlers.
_EXIT_STATUS = {}


def pytest_sessionfinish(session, exitstatus):
    _EXIT_STATUS["status"] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    if "status" in _EXIT_STATUS and not hasattr(config, "workerinput"):
        import sys
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_EXIT_STATUS["status"])


def pytest_collection_modifyitems(config, items):
    """The export tests are skipped here: they run in a child pytest (tests/export_child.py says why)."""
    if os.environ.get(IN_CHILD_ENV) == "1":
        return
    skip = pytest.mark.skip(reason="runs in a child pytest: tests/test_export_runtimes.py")
    for item in items:
        if item.path.name in IN_CHILD_FILES:
            item.add_marker(skip)
