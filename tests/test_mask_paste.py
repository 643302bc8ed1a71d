"""The model's mask paste: torchvision's values, written into one tensor."""
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image

from segstudio.models.resize import paste_masks


def random_case(g: torch.Generator, n: int, h: int, w: int):
    masks = torch.randn(n, 1, 28, 28, generator=g)
    corner = torch.rand(n, 2, generator=g) * torch.tensor([w, h]) - 10
    boxes = torch.cat([corner, corner + torch.rand(n, 2, generator=g) * torch.tensor([w, h]) * 0.6], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)     # as the model's boxes: clipped to the image, some
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)     # on its border, some a pixel wide or less
    return masks, boxes


def test_masks_pasted_into_the_image_equal_torchvisions_bit_for_bit():
    g = torch.Generator().manual_seed(0)
    for n, h, w in [(0, 50, 60), (1, 20, 20), (37, 123, 301), (80, 300, 90)]:
        masks, boxes = random_case(g, n, h, w)
        ours, theirs = paste_masks(masks, boxes, (h, w)), paste_masks_in_image(masks, boxes, (h, w))
        assert ours.shape == theirs.shape == (n, 1, h, w) and ours.dtype == theirs.dtype
        assert torch.equal(ours, theirs)
    scripted = torch.jit.script(paste_masks)      # the TorchScript export runs it too
    assert torch.equal(scripted(masks, boxes, (h, w)), theirs)


def test_the_models_predictions_are_torchvisions():
    import copy
    import types

    from torchvision.models.detection.transform import GeneralizedRCNNTransform

    from segstudio.base.config_presets import load_preset
    from segstudio.models.maskrcnn import build_model

    torch.manual_seed(0)
    model = build_model(load_preset("cpu").model, 3, 64).eval()
    model.roi_heads.score_thresh = 0.0           # an untrained model's detections, all of them
    theirs = copy.deepcopy(model)
    theirs.transform.postprocess = types.MethodType(GeneralizedRCNNTransform.postprocess, theirs.transform)
    images = [torch.rand(3, 70, 90), torch.rand(3, 130, 50)]   # resized to 64 px, then back
    with torch.no_grad():
        ours, tv = model(images), theirs(images)
    assert len(ours[0]["masks"]) > 0 and ours[1]["masks"].shape[1:] == (1, 130, 50)
    for a, b in zip(ours, tv):
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
