"""The window on a real X display (Xvfb, xcb platform), and one sentence when Qt's xcb plugin cannot load."""
import os
import shutil
import subprocess
import sys

import pytest
from PySide6.QtGui import QImage

from segstudio.gui import platform_check

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 (xcb) is Linux's platform")


@pytest.fixture
def xvfb_display():
    """A fresh Xvfb server on a free display number (Xvfb picks it: -displayfd); stopped afterwards."""
    xvfb = shutil.which("Xvfb")
    assert xvfb, "Xvfb is missing: scripts/test.sh installs it (apt-get install xvfb)"
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as pipe:
            number = pipe.readline().strip()     # written once the server accepts connections
        assert number.isdigit(), f"Xvfb did not start: {proc.stderr.read(2000) if proc.poll() is not None else ''}"
        yield f":{number}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_window_opens_on_an_x_display_and_saves_a_screenshot(xvfb_display, demo_dataset, tmp_path):
    assert not platform_check.missing_for(platform_check.xcb_plugin()), "scripts/install.sh misses an xcb library"
    out = tmp_path / "xcb.png"
    env = dict(os.environ, QT_QPA_PLATFORM="xcb", DISPLAY=xvfb_display, XDG_CONFIG_HOME=str(tmp_path / "config"))
    proc = subprocess.run([sys.executable, "-m", "segstudio", "gui", "--dataset", demo_dataset,
                           "--screenshot", str(out)], env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "platform plugin" not in proc.stderr
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 800 and image.height() >= 500
    colours = {image.pixel(x, y) for x in range(0, image.width(), 37) for y in range(0, image.height(), 29)}
    assert len(colours) > 20                      # a drawn window, not a blank frame


def test_without_a_display_the_command_says_so_in_one_sentence(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    proc = subprocess.run([sys.executable, "-m", "segstudio", "gui"], env=env, capture_output=True, text=True,
                          check=False,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "DISPLAY is not set" in proc.stderr and "--screenshot" in proc.stderr


def test_a_missing_xcb_library_is_named_with_its_package():
    ldd = ("\tlinux-vdso.so.1 (0x00007ffd)\n\tlibxcb-icccm.so.4 => not found\n"
           "\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)\n\tlibxcb-keysyms.so.1 => not found\n"
           "\tlibxcb-icccm.so.4 => not found\n")
    missing = platform_check.missing_libraries(ldd)
    assert missing == ["libxcb-icccm.so.4", "libxcb-keysyms.so.1"]
    sentence = platform_check.sentence_for(missing)
    assert "apt-get install libxcb-icccm4 libxcb-keysyms1" in sentence and sentence.count(".") >= 1


def test_a_plugin_whose_libraries_cannot_be_found_is_reported_by_ldd(tmp_path):
    # A copy of the real plugin outside PySide6 loses its $ORIGIN-relative Qt libraries: ldd says which.
    copy = tmp_path / "libqxcb.so"
    shutil.copy(platform_check.xcb_plugin(), copy)
    missing = platform_check.missing_for(copy)
    assert "libQt6XcbQpa.so.6" in missing
    assert "reinstall PySide6" in platform_check.sentence_for(missing)


def test_qt_is_only_asked_for_xcb_on_an_x11_session():
    assert platform_check.wants_xcb({"QT_QPA_PLATFORM": "xcb"})
    assert not platform_check.wants_xcb({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"})
    assert platform_check.wants_xcb({"DISPLAY": ":0"})
    assert not platform_check.wants_xcb({"WAYLAND_DISPLAY": "wayland-0", "DISPLAY": ":0"})
