"""S3 credentials typed in the window reach the process environment only when a run starts."""
import os

from segstudio.data.mapped import MappedDataset
from segstudio.data.sample import BoxFormat, ColumnMapping

KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


def test_s3_secrets_are_not_put_in_the_environment_while_the_form_is_edited(make_window, monkeypatch):
    for key in KEYS:
        monkeypatch.delenv(key, raising=False)
    window = make_window()
    panel = window.datasetPanel
    panel.keyEdit.setText("AKIAEXAMPLEKEY")
    panel.secretEdit.setText("typed-secret")
    # an s3 dataset as the window holds it once opened (set without opening: no server is needed)
    window.state.mapped = MappedDataset(
        url="s3://bucket/dataset", info=None, box_format=BoxFormat(), class_names=["thing"], _ds=object(),
        mapping=ColumnMapping(images="images", masks="masks", boxes="boxes", labels="labels"))
    try:
        epochs = window.trainPanel.editors["train.epochs"]
        epochs.setValue(epochs.value() + 1)            # live validation builds the whole config
        assert window.trainPanel.validationLabel.text() == ""
        assert not any(key in os.environ for key in KEYS)
        window.trainPanel.starting.emit()              # what Start emits right before the run begins
        assert os.environ["AWS_SECRET_ACCESS_KEY"] == "typed-secret"
    finally:
        for key in KEYS:
            os.environ.pop(key, None)
        window.state.mapped = None
