"""A batch of images through the single-image ONNX graph: the traced graph wrapped in an ONNX Loop.

Tracing unrolls torchvision's per-image loop, so the traced graph takes one image. The batched graph takes
`images`, float32 [N, 3, H, W] (each image at the top left, the rest padding, any N, H and W), and `sizes`,
int64 [N, 2] (each image's height and width), and runs the traced graph on each image cropped to its size,
inside a Loop. Its outputs are every image's detections one after another, with `image_index` [M] saying
whose each is; masks [M, 1, H, W] are padded to the batch's size. Per image, the results are the
single-image graph's, whatever else is in the batch.
"""
from __future__ import annotations

import numpy as np

OUTPUT_TYPES = {"boxes": 1, "labels": 7, "scores": 1, "masks": 1}   # onnx.TensorProto FLOAT = 1, INT64 = 7
BATCH_INPUTS = ("images", "sizes")
SHAPES = {"boxes": ["detections", 4], "labels": ["detections"], "scores": ["detections"],
          "masks": ["detections", 1, "height", "width"], "image_index": ["detections"]}


def _const(h, name: str, values, dtype=np.int64):
    from onnx import numpy_helper  # noqa: PLC0415 - optional package (the export extra)
    return h.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(values, dtype), name))


def _crop_nodes(h, image: str) -> list:
    """images[i] cropped to sizes[i] -> `image` (the single-image graph's input)."""
    return [h.make_node("Gather", ["images", "b_iter"], ["b_padded"], axis=0),
            h.make_node("Gather", ["sizes", "b_iter"], ["b_hw"], axis=0),
            _const(h, "b_zeros2", [0, 0]), _const(h, "b_axes12", [1, 2]),
            h.make_node("Slice", ["b_padded", "b_zeros2", "b_hw", "b_axes12"], [image])]


def _append_nodes(h, outputs: list[str]) -> list:
    """Pad this image's masks to the batch's H and W, then append its detections to the running ones."""
    nodes = [h.make_node("Shape", ["b_padded"], ["b_shape"]), _const(h, "b_one", [1]), _const(h, "b_three", [3]),
             h.make_node("Slice", ["b_shape", "b_one", "b_three"], ["b_full_hw"]),
             h.make_node("Sub", ["b_full_hw", "b_hw"], ["b_pad_hw"]), _const(h, "b_zeros6", [0] * 6),
             h.make_node("Concat", ["b_zeros6", "b_pad_hw"], ["b_pads"], axis=0),
             h.make_node("Pad", [outputs[3], "b_pads"], ["b_masks_padded"]),
             h.make_node("Shape", [outputs[2]], ["b_count"]),
             h.make_node("Expand", ["b_iter", "b_count"], ["b_index"]),
             h.make_node("Identity", ["b_cond"], ["b_cond_out"])]
    news = [outputs[0], outputs[1], outputs[2], "b_masks_padded", "b_index"]
    for name, new in zip(list(OUTPUT_TYPES) + ["image_index"], news):
        nodes.append(h.make_node("Concat", [f"b_all_{name}", new], [f"b_next_{name}"], axis=0))
    return nodes


def _initial_nodes(h) -> list:
    """Empty running outputs (shapes [0, 4], [0], [0], [0, 1, H, W], [0]) made from the input's shape."""
    return [h.make_node("Shape", ["images"], ["i_shape"]), _const(h, "i_zero", [0]), _const(h, "i_one", [1]),
            _const(h, "i_two", [2]), _const(h, "i_four", [4]), _const(h, "i_scalar0", 0),
            h.make_node("Gather", ["i_shape", "i_scalar0"], ["i_n"]),
            h.make_node("Slice", ["i_shape", "i_two", "i_four"], ["i_hw"]),
            h.make_node("Concat", ["i_zero", "i_four"], ["i_box_shape"], axis=0),
            h.make_node("Concat", ["i_zero", "i_one", "i_hw"], ["i_mask_shape"], axis=0),
            h.make_node("ConstantOfShape", ["i_box_shape"], ["i_boxes"], value=h.make_tensor("v", 1, [1], [0.0])),
            h.make_node("ConstantOfShape", ["i_zero"], ["i_labels"], value=h.make_tensor("v", 7, [1], [0])),
            h.make_node("ConstantOfShape", ["i_zero"], ["i_scores"], value=h.make_tensor("v", 1, [1], [0.0])),
            h.make_node("ConstantOfShape", ["i_mask_shape"], ["i_masks"], value=h.make_tensor("v", 1, [1], [0.0])),
            h.make_node("ConstantOfShape", ["i_zero"], ["i_index"], value=h.make_tensor("v", 7, [1], [0])),
            h.make_node("Constant", [], ["i_true"], value=h.make_tensor("t", 9, [], [True]))]


def _unknown(name: str) -> list:
    return [d if isinstance(d, int) else None for d in SHAPES[name]]


def batched(proto):
    """The single-image ModelProto (input image [3, H, W]; outputs boxes, labels, scores, masks) -> the
    batched ModelProto of the module doc (same weights, metadata and opset)."""
    from onnx import helper as h  # noqa: PLC0415 - optional package (the export extra)

    single = proto.graph
    image, outputs = single.input[0].name, [o.name for o in single.output]
    names = list(OUTPUT_TYPES) + ["image_index"]
    types = list(OUTPUT_TYPES.values()) + [7]
    body = h.make_graph(
        _crop_nodes(h, image) + list(single.node) + _append_nodes(h, outputs), "segstudio_one_image",
        [h.make_tensor_value_info("b_iter", 7, []), h.make_tensor_value_info("b_cond", 9, [])]
        + [h.make_tensor_value_info(f"b_all_{n}", t, _unknown(n)) for n, t in zip(names, types)],
        [h.make_tensor_value_info("b_cond_out", 9, [])]
        + [h.make_tensor_value_info(f"b_next_{n}", t, _unknown(n)) for n, t in zip(names, types)])
    loop = h.make_node("Loop", ["i_n", "i_true", "i_boxes", "i_labels", "i_scores", "i_masks", "i_index"], names,
                       body=body)
    graph = h.make_graph(
        _initial_nodes(h) + [loop], single.name or "segstudio",
        [h.make_tensor_value_info("images", 1, ["batch", 3, "height", "width"]),
         h.make_tensor_value_info("sizes", 7, ["batch", 2])],
        [h.make_tensor_value_info(n, t, SHAPES[n]) for n, t in zip(names, types)],
        initializer=list(single.initializer))
    model = h.make_model(graph, opset_imports=list(proto.opset_import), producer_name="segstudio")
    model.ir_version = proto.ir_version
    model.metadata_props.extend(proto.metadata_props)
    return model


def pack(images: list) -> tuple[np.ndarray, np.ndarray]:
    """3xHxW float tensors -> (images [N, 3, Hmax, Wmax] zero-padded, sizes [N, 2]), the batched inputs."""
    sizes = np.array([t.shape[-2:] for t in images], np.int64)
    packed = np.zeros((len(images), 3, int(sizes[:, 0].max()), int(sizes[:, 1].max())), np.float32)
    for i, t in enumerate(images):
        packed[i, :, :t.shape[-2], :t.shape[-1]] = t.numpy()
    return packed, sizes


def unpack(arrays: list, sizes: np.ndarray) -> list[dict]:
    """The batched outputs (boxes, labels, scores, masks, image_index) -> one dict of arrays per image,
    masks cropped back to the image's size."""
    boxes, labels, scores, masks, index = arrays
    results = []
    for i, (hgt, wid) in enumerate(sizes.tolist()):
        rows = index == i
        results.append({"boxes": boxes[rows], "labels": labels[rows], "scores": scores[rows],
                        "masks": masks[rows][:, :, :hgt, :wid]})
    return results
