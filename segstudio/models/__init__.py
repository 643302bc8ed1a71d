"""The model: Mask R-CNN builders, the inference resize, pretrained weights (download, import, cache)."""
