"""Likely label errors: each kind found on an image built to contain exactly that one error, and nothing on
an image whose labels agree with the predictions."""
import numpy as np
from eval_cases import image, rect

from segstudio.engine.label_issues import find_candidates

CAR, PERSON = 1, 2   # 1-based, as the model numbers classes


def ring(x1, y1, x2, y2):
    """A mask with the same tight box as rect(...) but only its border: the box agrees, the mask does not."""
    m = rect(x1, y1, x2, y2)
    m[y1 + 2:y2 - 2, x1 + 2:x2 - 2] = 0
    return m


def kinds(images, **kwargs):
    return [(c.kind, c.row, c.annotation, c.prediction, c.label, c.proposed) for c in find_candidates(images,
                                                                                                   **kwargs)]


def test_labels_that_agree_with_confident_predictions_give_no_candidate():
    clean = image([(rect(2, 2, 12, 12), CAR), (rect(20, 20, 34, 34), PERSON)],
                  [(rect(2, 2, 12, 12), CAR, 0.9), (rect(21, 20, 34, 34), PERSON, 0.8),
                   (rect(30, 0, 36, 4), CAR, 0.2)])             # a weak stray prediction is no evidence
    assert kinds([clean]) == []


def test_a_confident_prediction_on_nothing_is_a_missing_annotation():
    img = image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(25, 25, 35, 35), PERSON, 0.8)])
    assert kinds([img]) == [("missing", 0, -1, 1, -1, PERSON - 1)]


def test_predictions_of_several_classes_on_one_unlabelled_spot_are_one_missing_annotation():
    img = image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(20, 2, 30, 12), CAR, 0.6),
                                              (rect(20, 3, 30, 13), PERSON, 0.8), (rect(20, 25, 30, 35), CAR, 0.7)])
    # the spot at the top right once, as its surer prediction's class; the separate spot below on its own
    assert sorted(kinds([img])) == [("missing", 0, -1, 2, -1, PERSON - 1), ("missing", 0, -1, 3, -1, CAR - 1)]


def test_a_confident_prediction_of_another_class_is_a_wrong_class():
    img = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.85)])
    assert kinds([img]) == [("wrong_class", 0, 0, 0, CAR - 1, PERSON - 1)]
    covered = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.85), (rect(5, 5, 20, 20), CAR, 0.7)])
    assert kinds([covered]) == []                                 # its own class covers it too: not an error


def test_a_box_that_agrees_with_a_mask_that_does_not_is_a_sloppy_mask():
    img = image([(ring(4, 4, 30, 30), CAR)], [(rect(4, 4, 30, 30), CAR, 0.9)])
    assert kinds([img]) == [("sloppy_mask", 0, 0, 0, CAR - 1, CAR - 1)]


def test_an_annotation_no_prediction_supports_is_spurious():
    img = image([(rect(2, 2, 12, 12), CAR), (rect(25, 25, 35, 35), PERSON)], [(rect(2, 2, 12, 12), CAR, 0.9)])
    assert kinds([img]) == [("spurious", 0, 1, -1, PERSON - 1, -1)]
    weak = image([(rect(25, 25, 35, 35), PERSON)], [(rect(25, 25, 35, 35), PERSON, 0.3)])
    assert kinds([weak]) == []                                    # some support: not proposed


def test_ranking_thresholds_reviews_and_training_rows():
    strong = image([], [(rect(0, 0, 10, 10), CAR, 0.95)], image_id=0)
    weak = image([], [(rect(0, 0, 10, 10), CAR, 0.4)], image_id=1)
    found = find_candidates([weak, strong], training_rows=[1])
    assert [c.row for c in found] == [0, 1] and [c.training_row for c in found] == [False, True]
    assert 0 < found[1].score < found[0].score <= 1                   # the surer prediction is the likelier error
    assert [c.row for c in find_candidates([weak, strong], thresholds={CAR: 0.9})] == [0]   # per-class confidence
    assert find_candidates([weak, strong], training_rows=[1], reviewed=[found[0].key()]) == [found[1]]   # reviewed



def test_an_annotation_off_to_one_side_of_its_object_is_a_sloppy_mask_not_a_missing_and_a_spurious_one():
    img = image([(rect(10, 10, 26, 26), CAR)], [(rect(4, 4, 20, 20), CAR, 0.9)])    # box IoU 0.24: misplaced
    assert kinds([img]) == [("sloppy_mask", 0, 0, 0, CAR - 1, CAR - 1)]
    other = image([(rect(10, 10, 26, 26), PERSON)], [(rect(4, 4, 20, 20), CAR, 0.9)])  # another class: two objects
    assert sorted(k[0] for k in kinds([other])) == ["missing", "spurious"]


def test_a_disagreement_this_model_often_shows_on_right_labels_is_weaker_evidence():
    odd = image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(25, 25, 35, 35), PERSON, 0.9)])
    agreeing = [image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9)], image_id=i) for i in range(1, 30)]
    stray = [image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(25, 25, 35, 35), PERSON, 0.9)],
                   image_id=i) for i in range(1, 30)]
    careful = [c for c in find_candidates([odd] + agreeing) if c.row == 0]
    careless = [c for c in find_candidates([odd] + stray) if c.row == 0]
    assert [c.kind for c in careful] == [c.kind for c in careless] == ["missing"]
    assert careful[0].score > 2 * careless[0].score     # a model that predicts unlabelled shapes everywhere


def test_strong_evidence_is_never_capped_so_it_still_orders():
    agreeing = [image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), CAR, s)], image_id=i)
                for i, s in enumerate(np.linspace(0.55, 0.99, 300))]
    sure = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.99)], image_id=300)
    unsure = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.97)], image_id=301)
    found = find_candidates(agreeing + [unsure, sure])
    assert [(c.kind, c.row) for c in found] == [("wrong_class", 300), ("wrong_class", 301)]
    assert 0.5 < found[1].score < found[0].score < 1


def test_a_confusion_the_model_often_makes_on_other_annotations_is_weaker_evidence_than_a_rare_one():
    dog = 3
    agreeing = [image([(rect(5, 5, 20, 20), c)], [(rect(5, 5, 20, 20), c, 0.9)], image_id=i)
                for i, c in enumerate([CAR, PERSON, dog] * 20)]
    habit = [image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.9)], image_id=i) for i in range(60, 68)]
    rare = image([(rect(5, 5, 20, 20), dog)], [(rect(5, 5, 20, 20), PERSON, 0.9)], image_id=68)
    found = find_candidates(agreeing + habit + [rare])
    assert {c.kind for c in found} == {"wrong_class"} and len(found) == 9
    assert found[0].row == 68 and found[0].score > 2 * found[1].score    # the model calls cars persons: weak


def test_only_a_confident_prediction_says_a_class_is_wrong():
    unsure = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.3)])
    assert kinds([unsure]) == []                     # it supports the annotation, and proposes nothing
    sure = image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.85)])
    assert kinds([sure]) == [("wrong_class", 0, 0, 0, CAR - 1, PERSON - 1)]


def test_fold_candidates_the_runs_own_model_also_shows_come_first():
    from segstudio.engine.label_issues import confirmed_by

    # fold model: a wrong class on row 0, a missing object on row 1 (score 0.9 each), a stray on row 2
    fold = [image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.9)], image_id=0),
            image([(rect(2, 2, 10, 10), CAR)], [(rect(2, 2, 10, 10), CAR, 0.9), (rect(20, 20, 30, 30), CAR, 0.9)],
                  image_id=1),
            image([(rect(2, 2, 10, 10), CAR)], [(rect(2, 2, 10, 10), CAR, 0.9), (rect(25, 2, 35, 12), CAR, 0.95)],
                  image_id=2)]
    # the run's own model: agrees with row 0's label, sees row 1's object on the same spot, not row 2's stray
    own = [image([(rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), CAR, 0.9)], image_id=0),
           image([(rect(2, 2, 10, 10), CAR)], [(rect(2, 2, 10, 10), CAR, 0.9), (rect(21, 20, 31, 30), PERSON, 0.8)],
                 image_id=1),
           image([(rect(2, 2, 10, 10), CAR)], [(rect(2, 2, 10, 10), CAR, 0.9)], image_id=2)]
    alone = find_candidates(fold)
    assert [c.row for c in alone][0] != 1                              # alone, row 1 is not the strongest
    weighed = confirmed_by(alone, fold, find_candidates(own), own)
    assert weighed[0].row == 1 and weighed[0].kind == "missing" and weighed[0].score > 0   # both see the object
    assert weighed[0].prediction == 1 and weighed[0].proposed == CAR - 1                  # the fold model's
    assert [c.row for c in weighed[1:]] == [c.row for c in alone if c.row != 1]   # the rest: 0, the fold's order
    assert all(c.score == 0 for c in weighed[1:])


def test_images_ranked_together_keep_each_ones_candidates_at_its_own_row_and_indices():
    """The ranking runs over every image at once: each candidate still names its own row, annotation and
    prediction, whatever the images before it hold (none, several, or no predictions at all)."""
    cases = [([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(25, 25, 35, 35), PERSON, 0.8)]),
             ([(rect(2, 2, 12, 12), CAR), (rect(25, 25, 35, 35), PERSON)], []),
             ([], [(rect(5, 5, 15, 15), PERSON, 0.9)]),
             ([(rect(9, 9, 12, 12), PERSON), (rect(5, 5, 20, 20), CAR)], [(rect(5, 5, 20, 20), PERSON, 0.85)]),
             ([(ring(4, 4, 30, 30), CAR)], [(rect(30, 30, 36, 36), CAR, 0.2), (rect(4, 4, 30, 30), CAR, 0.9)])]
    alone = [set(kinds([image(gts, preds, image_id=k)])) for k, (gts, preds) in enumerate(cases)]
    together = kinds([image(gts, preds, image_id=k) for k, (gts, preds) in enumerate(cases)])
    assert set(together) == set().union(*alone) and len(together) == sum(map(len, alone))
    assert alone[3] == {("wrong_class", 3, 1, 0, CAR - 1, PERSON - 1), ("spurious", 3, 0, -1, PERSON - 1, -1)}
    assert alone[4] == {("sloppy_mask", 4, 0, 1, CAR - 1, CAR - 1)}


def test_a_diverged_models_nan_boxes_overlap_nothing_and_give_no_nan_score():
    img = image([(rect(2, 2, 12, 12), CAR)], [(rect(2, 2, 12, 12), CAR, 0.9), (rect(3, 3, 12, 12), PERSON, 0.8)])
    img.pred_boxes[1] = np.nan                                       # its mask is fine, its box is not
    found = find_candidates([img])
    assert [(c.kind, c.prediction) for c in found] == [("missing", 1)] and np.isfinite(found[0].score)


def test_candidates_name_annotations_by_their_index_in_the_stored_row():
    """The evaluation leaves out empty, tiny and filtered instances; a candidate (and so a fix) names the
    annotation as the stored row numbers it, not as the evaluation's shorter list does."""
    img = image([(rect(2, 2, 12, 12), CAR), (rect(25, 25, 35, 35), PERSON)], [(rect(2, 2, 12, 12), CAR, 0.9)])
    img.gt_index = np.array([1, 3])                               # stored instances 0 and 2 were left out
    assert kinds([img]) == [("spurious", 0, 3, -1, PERSON - 1, -1)]
