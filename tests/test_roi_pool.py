"""RoIAlign as matrix products (models/roi_pool.py) against torchvision's kernel: the same values and
feature-map gradients, for the sampling the presets use, torchvision's default and the adaptive grid, with
regions past the image's edges, regions thinner than a feature pixel, an image without regions, and none."""
import pytest
import torch
from torchvision.ops import MultiScaleRoIAlign, roi_align

from segstudio.models.roi_pool import MatmulRoIAlign, roi_align_matmul


def _rois(images: int, per_image: int, size: float, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    corner = torch.rand(images * per_image, 2, generator=g) * size * 0.9
    extent = torch.rand(images * per_image, 2, generator=g) * size * 0.6 + 0.5
    boxes = torch.cat([corner, corner + extent], 1)
    boxes[:5] = torch.tensor([[-3.0, -2.0, 5.0, 4.0],                  # starts before the image
                              [0.0, 0.0, size + 3, size + 4],          # ends past it
                              [size - 1, size - 1, size + 2, size + 2],  # on the last pixel
                              [10.0, 10.0, 10.2, 10.1],                # thinner than a pixel
                              [-10.0, -10.0, -5.0, -6.0]])             # wholly outside
    index = torch.arange(images).repeat_interleave(per_image)[:, None].float()
    return torch.cat([index, boxes], 1)


@pytest.mark.parametrize("ratio", [1, 2, 0])
def test_values_and_gradients_match_torchvision(ratio):
    features = torch.randn(3, 16, 32, 40, requires_grad=True)
    rois = _rois(3, 40, 128.0)
    rois = rois[rois[:, 0] != 1]                                       # image 1 has no regions
    theirs = roi_align(features, rois, (7, 5), 0.25, ratio, aligned=False)
    ours = roi_align_matmul(features, rois, (7, 5), 0.25, ratio)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
    upstream = torch.randn_like(theirs)
    grad_theirs, = torch.autograd.grad(theirs, features, upstream)
    grad_ours, = torch.autograd.grad(ours, features, upstream)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-5, atol=1e-5)
    assert grad_ours[1].abs().max() == 0


def test_no_regions_gives_an_empty_result():
    features = torch.randn(2, 8, 16, 16)
    assert roi_align_matmul(features, torch.zeros(0, 5), (7, 7), 0.5, 1).shape == (0, 8, 7, 7)


def test_multiscale_pooling_matches_torchvision():
    g = torch.Generator().manual_seed(1)
    feats = {str(k): torch.randn(2, 8, 256 >> k, 192 >> k, generator=g) for k in range(4)}
    boxes = [_rois(1, 60, 1000.0, seed)[:, 1:] for seed in (2, 3)]   # every level gets some
    shapes = [(1024, 768), (1024, 768)]
    names = ["0", "1", "2", "3"]
    theirs_pool = MultiScaleRoIAlign(names, 14, 2)
    theirs = theirs_pool(feats, boxes, shapes)
    assert len(set(theirs_pool.map_levels(boxes).tolist())) == 4
    ours = MatmulRoIAlign(names, 14, 2)(feats, boxes, shapes)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_scripting_keeps_torchvisions_pooling():
    names = ["0", "1"]
    scripted = torch.jit.script(MatmulRoIAlign(names, 7, 1))
    feats = {"0": torch.randn(1, 4, 32, 32), "1": torch.randn(1, 4, 16, 16)}
    boxes = [torch.tensor([[4.0, 4.0, 60.0, 50.0], [0.0, 0.0, 127.0, 127.0]])]
    expected = MultiScaleRoIAlign(names, 7, 1)(feats, boxes, [(128, 128)])
    torch.testing.assert_close(scripted(feats, boxes, [(128, 128)]), expected)
