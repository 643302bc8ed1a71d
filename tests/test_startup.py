"""The start-up rule, held by tests instead of by convention: the CLI parser imports only the chosen
subcommand and no torch; the window starts with torch blocked from import; the accelerator check that
picks the default preset answers without torch, and as torch does."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BLOCK_TORCH = textwrap.dedent("""
    import importlib.abc, sys, threading
    tried = []   # imports of torch tried on the main thread (background readers may load it later)

    class BlockTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                if threading.current_thread() is threading.main_thread():
                    tried.append(name)
                raise ImportError(f"{name} is blocked: start-up must not import torch")
            return None

    sys.meta_path.insert(0, BlockTorch())
""")


def run_python(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_parser_imports_only_the_chosen_command_and_no_torch():
    out = run_python("""
        import contextlib, io
        from segstudio.cli import COMMANDS, build_parser
        with contextlib.redirect_stdout(io.StringIO()) as text, contextlib.suppress(SystemExit):
            build_parser().parse_args(["--help"])
        assert all(name in text.getvalue() for name in COMMANDS), text.getvalue()
        assert not [m for m in sys.modules if m.startswith("segstudio.commands.")]
        for name, (module, _) in COMMANDS.items():
            before = {m for m in sys.modules if m.startswith("segstudio.commands.")}
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                build_parser(name).parse_args([name, "--help"])
            new = {m for m in sys.modules if m.startswith("segstudio.commands.")} - before
            assert new <= {f"segstudio.commands.{module}"}, (name, new)
        print("tried", tried)
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("tried []")


def test_the_window_starts_with_torch_blocked():
    out = run_python("""
        from PySide6.QtWidgets import QApplication
        app = QApplication([])
        from segstudio.gui import MainWindow
        window = MainWindow()
        window.show()
        app.processEvents()
        assert window.isVisible() and window.trainPanel.base is not None
        print("tried", tried)
        import os
        os._exit(0)    # background readers may still run; the start-up is what is checked
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("tried []")


def test_the_blocker_blocks():
    out = run_python("import torch\n")
    assert out.returncode != 0 and "blocked" in out.stderr


def test_the_accelerator_check_agrees_with_torch_and_needs_no_torch():
    out = run_python("""
        from segstudio.base.accelerator import gpu_present
        print(gpu_present(), tried)
    """)
    assert out.returncode == 0, out.stderr[-3000:]
    without_torch, tried = out.stdout.split(" ", 1)
    assert tried.strip() == "[]"
    torch_says = subprocess.run([sys.executable, "-c", "import torch; m = getattr(torch.backends, 'mps', None); "
                                 "print(torch.cuda.is_available() or bool(m and m.is_available()))"],
                                capture_output=True, text=True, timeout=300)
    assert without_torch == torch_says.stdout.strip()


def test_hidden_devices_count_as_no_gpu(monkeypatch):
    from segstudio.base import accelerator

    monkeypatch.setattr(accelerator, "_torch_gpu_build", lambda: True)
    monkeypatch.setattr(accelerator, "_driver_sees_gpu", lambda: True)
    monkeypatch.setitem(sys.modules, "torch", None)   # answer as before torch is imported
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    assert accelerator.gpu_present()
    for hidden in ("", "-1"):
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
        assert not accelerator.gpu_present()
