"""Whether this machine has a GPU torch can use (CUDA, ROCm or Apple MPS), answered without importing torch,
so that the window and the CLI parser start in well under a second. Once torch is imported, torch itself
answers; before, the installed torch build and the machine's driver do:

- CUDA/ROCm: torch ships its GPU library (lib/libtorch_cuda* or libtorch_hip*), the driver reports a GPU
  (/proc/driver/nvidia/gpus or /dev/kfd on Linux; the NVML library elsewhere), and CUDA_VISIBLE_DEVICES
  does not hide them all;
- MPS: macOS 12.3 or later on Apple silicon.
"""
from __future__ import annotations

import ctypes
import importlib.machinery
import os
import platform
import sys
from pathlib import Path


def gpu_present() -> bool:
    torch = sys.modules.get("torch")
    if torch is not None:
        mps = getattr(torch.backends, "mps", None)
        return torch.cuda.is_available() or (mps is not None and mps.is_available())
    return _mps_machine() or (_torch_gpu_build() and _driver_sees_gpu() and not _devices_hidden())


def _torch_gpu_build() -> bool:
    spec = importlib.machinery.PathFinder.find_spec("torch")   # where it is installed, without importing it
    if spec is None or not spec.submodule_search_locations:
        return False
    lib = Path(spec.submodule_search_locations[0]) / "lib"
    return any(lib.glob("*torch_cuda*")) or any(lib.glob("*torch_hip*"))


def _driver_sees_gpu() -> bool:
    if sys.platform.startswith("linux"):
        nvidia = Path("/proc/driver/nvidia/gpus")
        return (nvidia.is_dir() and any(nvidia.iterdir())) or Path("/dev/kfd").exists()
    return _nvml_device_count() > 0


def _nvml_device_count() -> int:
    try:
        nvml = ctypes.CDLL("nvml.dll" if sys.platform == "win32" else "libnvidia-ml.so.1")
        count = ctypes.c_uint(0)
        if nvml.nvmlInit_v2() != 0:
            return 0
        ok = nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
        nvml.nvmlShutdown()
        return count.value if ok else 0
    except (OSError, AttributeError):   # no NVIDIA driver library, or an old one without these calls
        return 0


def _devices_hidden() -> bool:
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    return visible is not None and visible.strip() in ("", "-1")


def _mps_machine() -> bool:
    if sys.platform != "darwin" or platform.machine() != "arm64":
        return False
    release = tuple(int(part) for part in (platform.mac_ver()[0] or "0").split(".")[:2])
    return release >= (12, 3)
