"""Figures of segstudio's import graph: rooms (top-level modules and folders of the package), the arrows
between rooms (distinct room -> room imports), floors (the longest chain of arrows + 1) and the
function-level imports (an import inside a function, deliberate or not).

    python scripts/import_graph.py [--edges]
"""
import ast
import sys
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "segstudio"


def room_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "segstudio" or len(parts) < 2:
        return None
    return parts[1]


def imported(node: ast.AST, module: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if node.level:   # relative import
        base = module.split(".")[:-node.level]
        return [".".join(base + ([node.module] if node.module else []))]
    return [node.module or ""]


def scan():
    arrows, inner = set(), 0
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            if id(node) not in top:
                inner += 1
            for target in imported(node, module):
                a, b = room_of(module), room_of(target)
                if a and b and a != b and b not in ("__init__",):
                    arrows.add((a, b))
    return arrows, inner


def main() -> None:
    arrows, inner = scan()
    rooms = sorted({p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
                    if (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
                    or (p.is_dir() and (p / "__init__.py").exists())})
    below = {r: {b for a, b in arrows if a == r} for r in rooms}

    @cache
    def floor(room: str, seen: frozenset = frozenset()) -> int:
        nxt = [floor(b, seen | {room}) for b in below.get(room, ()) if b not in seen and b in below]
        return 1 + max(nxt, default=0)

    loose = [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    print(f"rooms {len(rooms)} ({len(loose)} loose modules), arrows {len(arrows)}, "
          f"floors {max(floor(r) for r in rooms)}, function-level imports {inner}")
    if "--edges" in sys.argv:
        for r in sorted(rooms, key=floor):
            print(f"  floor {floor(r)} {r}: -> {', '.join(sorted(below[r]))}")


if __name__ == "__main__":
    main()
