"""What a COCO import did: counts of images, instances, crowd, skips (with reasons), re-encodes, classes."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class ImportSummary:
    dest: str
    images_in_file: int
    class_names: list
    resumed_rows: int = 0            # rows already in the dataset when a resumed import started
    images_imported: int = 0         # rows written by this run
    instances: int = 0
    crowd: int = 0
    empty_images: int = 0            # imported with zero instances
    skipped: Counter = field(default_factory=Counter)          # reason -> count (images and annotations)
    examples: dict = field(default_factory=dict)               # reason -> first few ids / file names
    image_actions: Counter = field(default_factory=Counter)    # "kept" or why it was re-encoded -> count
    notes: Counter = field(default_factory=Counter)            # e.g. image size differs from the JSON
    per_class: Counter = field(default_factory=Counter)        # class name -> instances (crowd included)
    stopped: bool = False
    rows_in_dataset: int = 0
    seconds: float = 0.0

    def _example(self, reason: str, what) -> None:
        bucket = self.examples.setdefault(reason, [])
        if len(bucket) < 5:
            bucket.append(what)

    def add_file_problems(self, skipped: Counter, examples: dict) -> None:
        self.skipped.update(skipped)
        for reason, items in examples.items():
            for what in items:
                self._example(reason, what)

    def add_row(self, row, action: str, note: str, skipped: Counter, record: dict) -> None:
        self.skipped.update(skipped)
        for reason in skipped:
            self._example(reason, record.get("file_name"))
        if row is None:
            self.skipped[action] += 1
            self._example(action, record.get("file_name"))
            return
        self.images_imported += 1
        self.image_actions[action] += 1
        if note:
            self.notes[note] += 1
            self._example(note, record.get("file_name"))
        n = len(row["categories"])
        self.instances += n
        self.crowd += int(row["iscrowd"].sum())
        self.empty_images += int(n == 0)
        for label in row["categories"]:
            self.per_class[self.class_names[int(label)]] += 1

    @property
    def reencoded(self) -> int:
        return sum(v for k, v in self.image_actions.items() if k != "kept")

    def to_dict(self) -> dict:
        return {"dest": self.dest, "images_in_file": self.images_in_file, "resumed_rows": self.resumed_rows,
                "images_imported": self.images_imported, "rows_in_dataset": self.rows_in_dataset,
                "instances": self.instances, "crowd": self.crowd, "empty_images": self.empty_images,
                "skipped": dict(self.skipped), "examples": {k: list(v) for k, v in self.examples.items()},
                "image_actions": dict(self.image_actions), "notes": dict(self.notes),
                "per_class": {name: self.per_class.get(name, 0) for name in self.class_names},
                "stopped": self.stopped, "seconds": round(self.seconds, 3)}

    def format_text(self) -> str:
        lines = [f"{'Stopped' if self.stopped else 'Imported'} {self.images_imported} of "
                 f"{self.images_in_file} images into {self.dest} in {self.seconds:.1f} s "
                 f"({self.rows_in_dataset} rows in the dataset"
                 + (f", {self.resumed_rows} from an earlier run" if self.resumed_rows else "") + ").",
                 f"Instances: {self.instances} ({self.crowd} crowd); images without instances: "
                 f"{self.empty_images}."]
        kept = self.image_actions.get("kept", 0)
        lines.append(f"Images: {kept} kept as original JPEG bytes, {self.reencoded} re-encoded as JPEG"
                     + (" (" + ", ".join(f"{k}: {v}" for k, v in sorted(self.image_actions.items())
                                         if k != "kept") + ")" if self.reencoded else "") + ".")
        for title, counter in (("Skipped", self.skipped), ("Note", self.notes)):
            for reason, count in sorted(counter.items()):
                ex = ", ".join(str(e) for e in self.examples.get(reason, [])[:3])
                lines.append(f"{title}: {count} x {reason}" + (f" (e.g. {ex})" if ex else ""))
        used = [(n, self.per_class.get(n, 0)) for n in self.class_names]
        lines.append(f"Classes: {len(self.class_names)} ({sum(1 for _, c in used if c)} with instances)")
        lines += [f"  {c:6d}  {n}" for n, c in used]
        return "\n".join(lines)
