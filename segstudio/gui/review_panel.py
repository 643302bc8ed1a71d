"""Review tab: a run's likely label errors, best first; fix them and commit the fixes on a branch.

Finding the candidates, drawing a row and committing run off the GUI thread. Fixes wait in a list (Undo
takes the last one back) until "Commit fixes", which writes them all at once on the fixes branch with the
dataset's writer lock (segstudio.data.label_fixes); "Train from this commit" opens the dataset at that
commit and goes to the Training tab.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from segstudio.base.errors import UserError
from segstudio.data.open import same_dataset, strip_secrets
from segstudio.gui import settings
from segstudio.gui.candidate_list import CandidateList
from segstudio.gui.widgets import ImageView
from segstudio.gui.workers import RenderService, TaskRunner

CHANNEL = "review"


def find_job(run: str, folds: int, fold_iterations: int = 0):
    def job(report, should_stop):
        from segstudio.engine.label_review import find_label_issues
        return find_label_issues(run, folds=folds, fold_iterations=fold_iterations, should_stop=should_stop,
                                 progress=lambda text: report(text))
    return job


def commit_job(mapped, fixes, message: str, branch: str, offer, copy_to: str):
    """(dataset URL, VersionRef) of the committed fixes, or the FixesBlocked saying why they could not be written
    (a result, not an error: the window offers its way out). Runs off the GUI thread."""
    from segstudio.data.fix_target import FixesBlocked, check_target, copy_for_fixes
    from segstudio.data.label_fixes import StaleFix, commit_fixes
    from segstudio.data.mapped import open_mapped

    base = mapped.ref if str(mapped.ref) else None
    if offer is None:
        blocked = check_target(mapped)
        if blocked is not None:
            return blocked
    elif offer.offer == "copy":
        mapped, base = open_mapped(copy_for_fixes(mapped, copy_to)), None
    try:
        ref = commit_fixes(mapped.url, fixes, mapped.mapping, mapped.box_format, len(mapped.class_names), message,
                           branch=branch, endpoint_url=mapped.endpoint_url, creds=mapped.creds.value,
                           base=offer.base if offer is not None and offer.offer == "branch" else base)
    except (FixesBlocked, StaleFix) as refused:     # results, not errors: the window offers the way out
        return refused
    return mapped.url, ref


def render_candidate(mapped, candidate: dict, image, class_names: list):
    """(The row with the annotation in question (red) and the prediction (green) drawn over it, the row as
    read: a fix of the candidate starts from it instead of reading it again on the GUI thread.)"""
    import numpy as np

    from segstudio.data.sample import boxes_from_masks
    from segstudio.engine.label_review import prediction_mask
    from segstudio.samples.render import render

    raw = mapped.read(candidate["row"])
    h, w = raw.image.shape[:2]
    masks, labels = [], []
    if candidate["annotation"] >= 0:
        masks.append(raw.masks[candidate["annotation"]].astype(bool))
        labels.append(candidate["label"])
    if candidate["prediction"] >= 0 and image is not None:
        masks.append(prediction_mask(image, candidate["prediction"], h, w))
        labels.append(candidate["proposed"])
    stack = np.stack(masks) if masks else np.zeros((0, h, w), bool)
    return render(raw.image, stack, boxes_from_masks(stack.view(np.uint8)), np.asarray(labels, np.int64),
                  class_names, alpha=0.5), (mapped, raw)


class ReviewPanel(QWidget):
    message = Signal(str, bool)
    trainFrom = Signal(str, str)    # a dataset URL and a version spec (branch@commit) in it: train on it

    def __init__(self, state, renderer: RenderService, parent: QWidget | None = None):
        super().__init__(parent)
        self.state, self.renderer = state, renderer
        self.run = ""
        self.result: dict | None = None
        self.images: dict = {}
        self.shown = (None, None)      # (the dataset read, the row) of the candidate drawn last
        self.fixes: list = []          # (Fix, candidate index) waiting for Commit
        self.fixes_url = ""            # the dataset they were made on
        self.committed, self.committed_url = "", ""
        self.blocked = None            # fix_target.FixesBlocked: why the last commit could not be written
        self.finder, self.committer = TaskRunner(self), TaskRunner(self)
        self.finder.succeeded.connect(self._on_found)
        self.finder.failed.connect(self._on_failed)
        self.finder.progress.connect(lambda values: self.statusLabel.setText(str(values[0])))
        self.committer.succeeded.connect(self._on_committed)
        self.committer.failed.connect(self._on_failed)
        self.finder.done.connect(self._update_buttons)
        self.committer.done.connect(self._update_buttons)
        state.changed.connect(self._on_dataset_changed)
        self.channel = renderer.channel(CHANNEL)
        self.channel.resultReady.connect(self._on_render)
        self._build()

    def _build(self) -> None:
        self.runLabel = QLabel("Select a run on the Training or Evaluation tab.", objectName="reviewRunLabel")
        self.foldsSpin = QSpinBox(objectName="reviewFoldsSpin", minimum=0, maximum=10, value=0)
        self.foldsSpin.setSpecialValueText("quick")
        self.foldsSpin.setToolTip("quick: the run's own model (biased on its training rows); K: K trainings, each "
                                  "predicting the rows it did not see (accurate, costs K trainings)")
        self.foldItersSpin = QSpinBox(objectName="reviewFoldItersSpin", minimum=0, maximum=1_000_000, value=0,
                                      singleStep=100, enabled=False)
        self.foldItersSpin.setSpecialValueText("as the run")
        self.foldItersSpin.setToolTip("Iterations of each fold's training: as many as the run trained by default "
                                      "(a much shorter model is too weak to judge labels)")
        self.foldsSpin.valueChanged.connect(lambda k: self.foldItersSpin.setEnabled(k > 0))
        self._remember(self.foldsSpin, "review/folds")
        self._remember(self.foldItersSpin, "review/fold_iterations")
        self.findButton = QPushButton("Find label issues", objectName="findIssuesButton", clicked=self.find)
        self.cancelButton = QPushButton("Cancel", objectName="reviewCancelButton", enabled=False,
                                        clicked=self.finder.request_stop)
        self.statusLabel = QLabel("", objectName="reviewStatusLabel", wordWrap=True)
        self.issues = CandidateList(self)
        # laid out in batches between events: the first rows show at once, however many there are (each row
        # keeps its own width, so a long one's end, its fixes included, can be scrolled to)
        self.list = QListView(objectName="issueList", layoutMode=QListView.LayoutMode.Batched)
        self.list.setModel(self.issues)
        self.list.selectionModel().currentRowChanged.connect(lambda now, _before: self._show_candidate(now.row()))
        self.view = ImageView(placeholder="Find label issues, then pick a candidate")
        self.view.setObjectName("reviewView")
        self.classCombo = QComboBox(objectName="reviewClassCombo")
        buttons = [("Accept prediction", "acceptButton", self.accept_prediction),
                   ("Change class to", "relabelButton", self.relabel),
                   ("Delete annotation", "deleteButton", self.delete_annotation),
                   ("Mark correct", "markCorrectButton", self.mark_correct),
                   ("Undo", "undoButton", self.undo)]
        self.actions = {name: QPushButton(text, objectName=name, clicked=slot) for text, name, slot in buttons}
        self._keys()
        self.branchEdit = QLineEdit(str(settings.load_value("review/branch", "") or "segstudio-fixes"),
                                    objectName="fixBranchEdit")
        self.branchEdit.editingFinished.connect(
            lambda: settings.save_value("review/branch", self.branchEdit.text().strip() or "segstudio-fixes"))
        self.commitButton = QPushButton("Commit fixes", objectName="commitFixesButton",
                                        clicked=lambda: self.commit())
        self.trainButton = QPushButton("Train from this commit", objectName="trainFromCommitButton",
                                       clicked=lambda: self.trainFrom.emit(self.committed_url, self.committed),
                                       enabled=False)
        self.offerButton = QPushButton("", objectName="fixOfferButton", clicked=self.take_offer, visible=False)
        self.copyEdit = QLineEdit(objectName="fixCopyEdit", visible=False)
        self.copyEdit.setToolTip("Where the copy goes: a new local folder or s3:// URL")
        self.pendingLabel = QLabel("No fixes yet.", objectName="pendingFixesLabel")
        top = QHBoxLayout()
        for w in (self.runLabel, QLabel("folds"), self.foldsSpin, QLabel("iterations per fold"), self.foldItersSpin,
                  self.findButton, self.cancelButton):
            top.addWidget(w, 1 if w is self.runLabel else 0)
        acts = QHBoxLayout()
        for name in ("acceptButton", "relabelButton"):
            acts.addWidget(self.actions[name])
        acts.addWidget(self.classCombo)
        for name in ("deleteButton", "markCorrectButton", "undoButton"):
            acts.addWidget(self.actions[name])
        acts.addStretch(1)
        commit = QHBoxLayout()
        for w in (self.pendingLabel, QLabel("branch"), self.branchEdit, self.commitButton, self.trainButton):
            commit.addWidget(w, 1 if w is self.pendingLabel else 0)
        right = QWidget()
        rlayout = QVBoxLayout(right)
        rlayout.addWidget(self.view, 1)
        rlayout.addLayout(acts)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.list)
        split.addWidget(right)
        split.setSizes([380, 800])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.statusLabel)
        offer = QHBoxLayout()
        offer.addWidget(self.offerButton)
        offer.addWidget(self.copyEdit, 1)
        offer.addStretch(1)
        layout.addLayout(offer)
        layout.addWidget(split, 1)
        layout.addLayout(commit)
        self._update_buttons()

    def _keys(self) -> None:
        """Review from the keyboard with the list focused: arrows move, a letter acts on the candidate (as its
        button would: nothing while the button is disabled), 1-9 pick the class for Change class; Ctrl+Z undoes
        anywhere on the tab but in a text field (which undoes its own typing)."""
        keys = {"acceptButton": ["A"], "relabelButton": ["C"], "deleteButton": ["D", "Del"],
                "markCorrectButton": ["M"], "undoButton": ["Ctrl+Z"]}
        for name, sequences in keys.items():
            button = self.actions[name]
            button.setToolTip(f"{button.text()} ({' or '.join(sequences)})")
            scope = self if name == "undoButton" else self.list
            for sequence in sequences:
                context = (Qt.ShortcutContext.WidgetWithChildrenShortcut if scope is self
                           else Qt.ShortcutContext.WidgetShortcut)
                QShortcut(QKeySequence(sequence), scope, activated=button.click, context=context)
        for i in range(9):
            QShortcut(QKeySequence(str(i + 1)), self.list, context=Qt.ShortcutContext.WidgetShortcut,
                      activated=lambda i=i: self.classCombo.setCurrentIndex(min(i, self.classCombo.count() - 1)))

    @staticmethod
    def _remember(spin: QSpinBox, key: str) -> None:
        """The spin box starts at its value of the last session and keeps each new one."""
        try:
            spin.setValue(int(settings.load_value(key, spin.value())))
        except (TypeError, ValueError):
            pass    # an unreadable stored value: keep the default
        spin.valueChanged.connect(lambda value: settings.save_value(key, value))

    # ---- finding ------------------------------------------------------------------------------
    @Slot(str)
    def set_run(self, path: str) -> None:
        self.run = path
        self.runLabel.setText(f"Run: {Path(path).name}" if path else "Select a run on the Training tab.")
        self._update_buttons()

    def find(self) -> None:
        """The quick option starts at once; k folds first say what they will cost and ask."""
        if not self.run or self.finder.is_running():
            return
        folds, iterations = self.foldsSpin.value(), self.foldItersSpin.value()
        if not folds:
            self._start_finding(folds, iterations)
            return
        from segstudio.engine.label_review import fold_plan  # torch: imported when first needed

        try:
            plan = fold_plan(self.run, folds, iterations)
        except UserError as exc:
            self._on_failed(str(exc))
            return
        box = QMessageBox(QMessageBox.Icon.Question, "Cross-prediction",
                          f"{plan.describe()}\n\nStart? (Cancel stops it at any time; nothing is written to the "
                          "run or the dataset.)", QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                          self)
        box.setObjectName("foldCostBox")
        box.finished.connect(lambda result: self._start_finding(folds, plan.iterations)
                             if result == QMessageBox.StandardButton.Yes else None)
        box.open()

    def _start_finding(self, folds: int, iterations: int) -> None:
        if self.finder.is_running():
            return
        self.statusLabel.setText("Predicting the dataset's rows ..." if not folds else "Training the folds ...")
        self.finder.start(find_job(self.run, folds, iterations))
        self._update_buttons()

    @Slot(object)
    def _on_found(self, found) -> None:
        self.result, self.images = found
        self.runLabel.setText(f"Run: {Path(self.result['run']).name}")
        names = self.result["class_names"]
        self.classCombo.clear()
        self.classCombo.addItems(names)
        self.issues.show(self.result["candidates"], names)
        trained_on = self.result.get("dataset", "")
        elsewhere = "" if not trained_on or same_dataset(trained_on, self.state.url) else (
            f" The run was trained on {strip_secrets(trained_on)}, not on the dataset open: open it to "
            "see and fix these rows.")
        self.statusLabel.setText(f"{len(self.result['candidates']):,} candidates in {self.result['rows']:,} rows "
                                 f"({self.result['mode']}). {self.result['note']}{elsewhere}")
        self.statusLabel.setStyleSheet("color: #8a5a00;" if self.result["note"] or elsewhere else "")
        if self.issues.rowCount():
            self._select(0)
        self._update_buttons()

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.statusLabel.setText(message)
        self.message.emit(message, True)
        self._update_buttons()

    def _select(self, row: int) -> None:
        self.list.setCurrentIndex(self.issues.index(row))

    def candidate(self) -> dict | None:
        row = self.list.currentIndex().row()
        return self.result["candidates"][row] if self.result and 0 <= row < len(self.result["candidates"]) else None

    @Slot(int)
    def _show_candidate(self, _row: int) -> None:
        c = self.candidate()
        self._update_buttons()
        if c is None or self.state.mapped is None:
            return
        if c["proposed"] >= 0:
            self.classCombo.setCurrentIndex(c["proposed"])
        mapped, image, names = self.state.mapped, self.images.get(c["row"]), self.result["class_names"]
        self.channel.submit(lambda: render_candidate(mapped, c, image, names))

    @Slot(int, object)
    def _on_render(self, seq: int, payload) -> None:
        picture, self.shown = payload
        self.view.set_image(picture)

    def _read(self, c: dict):
        """Candidate `c`'s row as the version open has it: the one drawn when it is that row, else read now;
        None (and one sentence) where it cannot be read."""
        mapped, raw = self.shown
        if mapped is self.state.mapped and raw is not None and raw.index == c["row"]:
            return raw
        try:
            return self.state.mapped.read(c["row"])
        except (UserError, IndexError) as exc:
            self._on_failed(f"Row {c['row']} cannot be read from the dataset open ({exc}).")
            return None

    def _on_dataset_changed(self) -> None:
        """Another dataset or version opened: the candidate is drawn again from it (fixes read what is drawn)."""
        self.shown = (None, None)
        self._show_candidate(self.list.currentIndex().row())

    # ---- fixing -------------------------------------------------------------------------------
    def _add(self, fix) -> None:
        if fix is None:
            return
        if self.fixes and not same_dataset(self.state.url, self.fixes_url):
            n = len(self.fixes)
            self._on_failed(f"{n} fix{'es' if n > 1 else ''} made on {strip_secrets(self.fixes_url)} "
                            f"{'are' if n > 1 else 'is'} waiting; commit or undo {'them' if n > 1 else 'it'} "
                            "before fixing another dataset.")
            return
        if not self.fixes:
            self.fixes_url = self.state.url
        self.fixes.append((fix, self.list.currentIndex().row()))
        self._tag_and_go_on(fix.action)
        self._update_buttons()

    def _tag_and_go_on(self, text: str) -> None:
        """Marks the current candidate with what was done to it and moves on to the next."""
        row = self.list.currentIndex().row()
        self.issues.tag(row, text)
        self._select(min(row + 1, self.issues.rowCount() - 1))

    def accept_prediction(self) -> None:
        from segstudio.engine.label_review import prediction_mask

        c = self.candidate()
        raw = self._read(c)
        if raw is not None:
            mask = prediction_mask(self.images[c["row"]], c["prediction"], *raw.image.shape[:2])
            action = "replace" if c["annotation"] >= 0 else "add"
            self._add(self._fix(c, raw, action, label=c["proposed"], mask=mask))

    def relabel(self) -> None:
        c = self.candidate()
        self._add(self._fix(c, self._read(c), "relabel", label=self.classCombo.currentIndex()))

    def delete_annotation(self) -> None:
        c = self.candidate()
        self._add(self._fix(c, self._read(c), "delete"))

    def _fix(self, c: dict, raw, action: str, **change):
        """The fix of candidate `c`, carrying its annotation as the reviewer sees it in `raw` (the row read from
        the version open): the commit finds it by that even where an earlier commit moved it. None (and one
        sentence) where the version open is not the one the candidates were found on, or the row there has
        no such annotation."""
        from segstudio.data.label_fixes import Fix

        if raw is None:
            return None
        j, why = c["annotation"], self._not_reviewed_here(c, raw)
        if why:
            self._on_failed(why)
            return None
        was = {"was_label": int(raw.labels[j]), "was_mask": raw.masks[j].astype(bool)} if j >= 0 else {}
        return Fix(c["row"], action, j, **change, **was)

    def _not_reviewed_here(self, c: dict, raw) -> str:
        """Why candidate `c` cannot be fixed in the row `raw` of the version open ("" when it can): the
        candidates name annotations as the version the run read numbers them."""
        from segstudio.data.versions import VersionRef

        reviewed, names = VersionRef.parse(self.result.get("commit", "")), self.result["class_names"]
        trained_on = self.result.get("dataset", "")
        if trained_on and not same_dataset(trained_on, self.state.url):
            return (f"These candidates are for {strip_secrets(trained_on)}; open it to fix them (the dataset "
                    "open numbers its annotations differently).")
        if reviewed is not None and reviewed.commit != self.state.mapped.ref.commit:
            return (f"These candidates were found on version {reviewed}, not the version open "
                    f"({self.state.mapped.ref or 'none'}); open {reviewed} to fix them: the commit still goes to "
                    "the fixes branch and finds each annotation there.")
        j = c["annotation"]
        if j >= raw.num_instances or (j >= 0 and int(raw.labels[j]) != c["label"]):
            name = names[c["label"]] if 0 <= c["label"] < len(names) else "?"
            return (f"Row {c['row']} of the version open has no annotation {j + 1} of class {name} as the run saw "
                    "it (it skipped an empty or tiny one there); fix this row by hand on the Dataset tab.")
        return ""

    def _leave_out(self, stale) -> None:
        """A commit refused because one fix's annotation changed (StaleFix): that fix leaves the waiting list,
        the others wait for Commit again."""
        position = next(i for i, (fix, _) in enumerate(self.fixes) if fix is stale.fix)
        fix, row = self.fixes.pop(position)
        self.issues.untag(row, fix.action)
        self.issues.tag(row, "left out")
        n = len(self.fixes)
        self._on_failed(f"{stale.why}. That fix is left out; " + (f"Commit writes the other {n}." if n else
                                                                    "no fix is waiting."))

    def mark_correct(self) -> None:
        from segstudio.engine.label_issues import Candidate
        from segstudio.engine.label_review import mark_reviewed
        c = self.candidate()
        mark_reviewed(self.result["run"], [Candidate(**c).key()])
        self._tag_and_go_on("correct")

    def undo(self) -> None:
        if not self.fixes:
            return
        fix, row = self.fixes.pop()
        self.issues.untag(row, fix.action)
        self._update_buttons()

    def commit(self, offer=None) -> None:
        """Commit the waiting fixes on the branch named; `offer`: a FixesBlocked whose way out was taken (a new
        branch from the version reviewed, or a copy at the path in copyEdit)."""
        if not self.fixes or self.committer.is_running():
            return
        if not same_dataset(self.state.url, self.fixes_url):
            self._on_failed(f"The waiting fixes were made on {strip_secrets(self.fixes_url)}, which is no longer "
                            "open; open it again to commit them, or undo them.")
            return
        mapped, fixes = self.state.mapped, [f for f, _ in self.fixes]
        branch = offer.suggestion if offer is not None and offer.offer == "branch" else self.branchEdit.text().strip()
        copy_to = self.copyEdit.text().strip() if offer is not None and offer.offer == "copy" else ""
        message = f"{len(fixes)} label fixes reviewed from run {Path(self.result['run']).name}"
        where = f"a copy at {copy_to}" if copy_to else f"branch {branch}"
        self.statusLabel.setText(f"Committing {len(fixes)} fixes on {where} ...")
        self.statusLabel.setStyleSheet("")
        self._show_offer(None)
        self.committer.start(lambda report, stop: commit_job(mapped, fixes, message, branch, offer, copy_to))

    def take_offer(self) -> None:
        if self.blocked is not None:
            self.commit(self.blocked)

    def _show_offer(self, blocked) -> None:
        self.blocked = blocked
        self.offerButton.setVisible(blocked is not None)
        self.copyEdit.setVisible(blocked is not None and blocked.offer == "copy")
        if blocked is None:
            return
        if blocked.offer == "branch":
            self.offerButton.setText(f"Write them on a new branch {blocked.suggestion}")
        else:
            self.offerButton.setText("Copy the dataset and write them there:")
            self.copyEdit.setText(blocked.suggestion)
        self.offerButton.setMinimumWidth(self.offerButton.sizeHint().width())   # its text changed while hidden

    @Slot(object)
    def _on_committed(self, result) -> None:
        from segstudio.data.fix_target import FixesBlocked
        from segstudio.data.label_fixes import StaleFix

        if isinstance(result, StaleFix):
            self._leave_out(result)
            return
        if isinstance(result, FixesBlocked):
            self.statusLabel.setText(str(result))
            self.statusLabel.setStyleSheet("color: #b00020;")
            self.message.emit(str(result), True)
            self._show_offer(result)
            return
        url, ref = result
        n = len(self.fixes)
        self.fixes.clear()
        self.committed, self.committed_url = str(ref), url
        where = "" if url == self.state.url else f" in the copy {url}"
        self.statusLabel.setText(f"Committed {n} fixes as {ref}{where}; the main branch is unchanged.")
        self.message.emit(f"Committed {n} label fixes as {ref}{where}.", False)
        self._update_buttons()

    def _update_buttons(self) -> None:
        c, busy = self.candidate(), self.finder.is_running() or self.committer.is_running()
        self.findButton.setEnabled(bool(self.run) and not busy)
        self.cancelButton.setEnabled(self.finder.is_running())
        fixable = bool(c) and not busy and self.state.ready    # a fix reads the row from the dataset open
        self.actions["acceptButton"].setEnabled(fixable and c["prediction"] >= 0)
        for name in ("relabelButton", "deleteButton"):
            self.actions[name].setEnabled(fixable and c["annotation"] >= 0)
        self.actions["markCorrectButton"].setEnabled(bool(c) and not busy)
        self.actions["undoButton"].setEnabled(bool(self.fixes) and not busy)
        self.commitButton.setEnabled(bool(self.fixes) and not busy)
        self.trainButton.setEnabled(bool(self.committed) and not busy)
        self.offerButton.setEnabled(bool(self.fixes) and not busy)
        n = len(self.fixes)
        self.pendingLabel.setText(f"{n} fix{'es' if n > 1 else ''} waiting (Undo takes the last back)" if n
                                  else "No fixes waiting.")

    def readers(self) -> list:
        return [self.finder]

    def writers(self) -> list:
        return [self.committer]
