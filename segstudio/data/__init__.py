"""Deep Lake datasets: open, describe, column mapping, splits, COCO import, demo data, pre-flight checks."""
