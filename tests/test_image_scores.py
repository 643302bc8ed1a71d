"""Per-image prediction scores on hand-made cases (the definition is in segstudio/engine/image_scores.py)."""
import numpy as np
import pytest

from segstudio.engine.image_scores import ImageScore, score_image, worst_first


def square(x, y, size, shape=(40, 40)):
    m = np.zeros(shape, np.uint8)
    m[y:y + size, x:x + size] = 1
    return m


def stack(*masks, shape=(40, 40)):
    return np.stack(masks) if masks else np.zeros((0, *shape), np.uint8)


def test_perfect_prediction_scores_one():
    gt = stack(square(0, 0, 10), square(20, 20, 10))
    s = score_image(gt, [1, 2], [0.9, 0.8], gt, [1, 2])
    assert s == ImageScore(score=1.0, mean_iou=1.0, matched=2, missed=0, false_positives=0)


def test_nothing_to_find_and_nothing_predicted_is_perfect():
    s = score_image(stack(), [], [], stack(), [])
    assert s.score == 1.0 and s.matched == s.missed == s.false_positives == 0


def test_half_overlap_gives_its_iou():
    # 10x10 truth, prediction shifted by 5 px: intersection 50, union 150
    s = score_image(stack(square(5, 0, 10)), [1], [0.9], stack(square(0, 0, 10)), [1])
    assert s.matched == 1 and s.score == pytest.approx(1 / 3) and s.mean_iou == pytest.approx(1 / 3)


def test_missed_instance_and_false_positive_each_count_once():
    gt = stack(square(0, 0, 10), square(20, 20, 10))
    pred = stack(square(0, 0, 10), square(30, 0, 8))          # finds one, invents one elsewhere
    s = score_image(pred, [1, 1], [0.9, 0.9], gt, [1, 1])
    assert (s.matched, s.missed, s.false_positives) == (1, 1, 1)
    assert s.score == pytest.approx(1 / 3)                      # 1.0 / (2 truths + 1 false)


def test_predictions_below_threshold_are_ignored():
    gt = stack(square(0, 0, 10))
    pred = stack(square(0, 0, 10), square(30, 30, 5))
    assert score_image(pred, [1, 1], [0.9, 0.2], gt, [1], score_threshold=0.5).score == 1.0
    assert score_image(pred, [1, 1], [0.9, 0.2], gt, [1], score_threshold=0.1).false_positives == 1


def test_wrong_class_does_not_match():
    gt = stack(square(0, 0, 10))
    s = score_image(gt, [2], [0.9], gt, [1])
    assert (s.matched, s.missed, s.false_positives, s.score) == (0, 1, 1, 0.0)


def test_each_truth_matches_one_prediction_only():
    gt = stack(square(0, 0, 10))
    s = score_image(stack(square(0, 0, 10), square(1, 0, 10)), [1, 1], [0.9, 0.8], gt, [1])
    assert (s.matched, s.false_positives) == (1, 1) and s.mean_iou == 1.0 and s.score == 0.5


def test_crowd_region_is_not_a_miss_and_excuses_predictions_inside_it():
    gt = stack(square(0, 0, 10), square(20, 20, 20))
    pred = stack(square(0, 0, 10), square(22, 22, 6))          # second prediction lies in the crowd
    s = score_image(pred, [1, 1], [0.9, 0.9], gt, [1, 1], [False, True])
    assert s == ImageScore(score=1.0, mean_iou=1.0, matched=1, missed=0, false_positives=0)


def test_model_output_layout_is_accepted():
    gt = stack(square(0, 0, 10))
    probs = gt[:, None].astype(np.float32) * 0.9                # N x 1 x H x W probabilities
    assert score_image(probs, np.array([1]), np.array([0.7], np.float32), gt, np.array([1])).score == 1.0


def test_worst_first_orders_by_score_then_errors():
    scores = {7: ImageScore(0.9, 0.9, 1, 0, 0), 3: ImageScore(0.0, 0.0, 0, 1, 0),
              5: ImageScore(0.0, 0.0, 0, 2, 1), 1: ImageScore(1.0, 1.0, 1, 0, 0)}
    assert worst_first(scores) == [5, 3, 7, 1]


def test_read_only_rows_from_the_dataset_score_without_a_warning():
    import warnings

    gt = stack(square(0, 0, 10), square(20, 20, 10))
    labels = np.array([1, 2])
    for array in (gt, labels):
        array.flags.writeable = False              # as rows read from Deep Lake arrive
    with warnings.catch_warnings():
        warnings.simplefilter("error")             # torch's "NumPy array is not writable" would fail here
        s = score_image(gt, labels, np.array([0.9, 0.8]), gt, labels, np.zeros(2, bool))
    assert s.matched == 2
