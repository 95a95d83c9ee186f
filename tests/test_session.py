"""Issue 26 under AppTest: what a session chose outlives the page it chose
it on (the Train settings, the model picked in the sidebar), every page
names the model in use, and a training that scores worse than the current
model does not replace it until "Use this model"."""

from __future__ import annotations

import pytest
from test_pages import open_page, texts, wait

from model.lab import store


def number(at, label: str):
    return next(n for n in at.number_input if n.label == label)


def test_train_settings_survive_a_switch_to_evaluate_and_back(lab_dir):
    at = open_page("train")
    at.selectbox(key="optimizer:classic").set_value("adam").run()
    at.text_input(key="hidden:classic").set_value("256,128").run()
    number(at, "Batch size").set_value(64).run()
    number(at, "Epochs").set_value(1).run()
    at.slider(key="dropout:classic").set_value(0.2).run()  # inside the closed expander
    described = "MLP 784-256-128-10, ADAM lr 0.001, batch 64, 1 epoch"
    assert described in texts(at)
    at.switch_page("app_pages/evaluate.py").run()
    assert not at.exception, at.exception
    at.switch_page("app_pages/draw.py").run()  # two pages away: still kept
    at.switch_page("app_pages/train.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="optimizer:classic").value == "adam"
    assert at.text_input(key="hidden:classic").value == "256,128"
    assert [number(at, n).value for n in ("Batch size", "Epochs")] == [64, 1]
    assert at.slider(key="dropout:classic").value == pytest.approx(0.2)
    assert described in texts(at)


def test_the_preset_survives_a_switch(lab_dir):
    at = open_page("train")
    at.selectbox(key="preset").set_value("fast-cnn").run()
    at.switch_page("app_pages/tune.py").run()
    at.switch_page("app_pages/train.py").run()
    assert at.selectbox(key="preset").value == "fast-cnn"
    assert at.selectbox(key="architecture:fast-cnn").value == "cnn"


def test_the_chosen_model_survives_a_switch_and_every_page_names_it(lab_with_model, default_run):
    from model.lab.registry import import_model

    meta = import_model(default_run.path.read_bytes(), "copy.h5", max_bytes=10**8)
    at = open_page("evaluate")
    assert "Model: MLP 784-128-128-10" in texts(at) and "(the current model)" in texts(at)
    at.sidebar.selectbox(key="model_key").set_value(meta["key"]).run()
    assert "Model: uploaded copy.h5" in texts(at)
    at.switch_page("app_pages/train.py").run()  # no model picker on this page
    assert "Model: uploaded copy.h5" in texts(at)
    for page in ("draw", "inside", "evaluate"):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, at.exception
        assert "Model: uploaded copy.h5" in texts(at), page
        assert at.sidebar.selectbox(key="model_key").value == meta["key"], page
        assert "uploaded copy.h5" in texts(at), page


def test_a_worse_training_does_not_replace_the_current_model_until_used(lab_with_model, default_run):
    before = store.current_run().key
    at = open_page("train")
    at.number_input(key="lr:sgd:classic").set_value(0.05).run()  # one quick epoch: about 89%, worse than 94%
    number(at, "Epochs").set_value(1).run()
    number(at, "Batch size").set_value(256).run()
    at.button(key="train").click().run()
    wait(at, lambda at: at.metric)
    assert "kept, and your better model" in texts(at)
    assert "points vs your model before" in at.metric[0].delta
    assert store.current_run().key == before  # not replaced
    new = next(m["key"] for m in store.list_runs() if m["key"] != before)
    at.switch_page("app_pages/evaluate.py").run()
    assert "Model: MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs" in texts(at)  # still the better one
    at.switch_page("app_pages/train.py").run()
    at.button(key=f"use_{new}").click().run()
    assert not at.exception, at.exception
    assert store.current_run().key == new
    assert "is now your model, as you chose" in texts(at)


def test_kept_models_can_be_made_current_and_deleted(lab_with_model, default_run):
    from model.lab.registry import import_model

    before = store.current_run().key
    meta = import_model(default_run.path.read_bytes(), "copy.h5", max_bytes=10**8)
    at = open_page("evaluate")
    frame = at.dataframe[-1].value
    assert set(frame["key"]) == {before, meta["key"]}
    assert list(frame.loc[frame["key"] == before, "current"]) == ["current"]
    at.selectbox(key="manage_key").set_value(before).run()
    assert at.button(key="manage_delete_ask").disabled  # the current model
    at.selectbox(key="manage_key").set_value(meta["key"]).run()
    at.button(key="manage_use").click().run()
    assert store.current_run().key == meta["key"]
    at.selectbox(key="manage_key").set_value(before).run()
    at.button(key="manage_delete_ask").click().run()
    at.button(key="manage_delete_yes").click().run()
    assert not at.exception, at.exception
    assert store.load_run_meta(before) is None
    assert "Deleted run" in texts(at)


def test_kept_settings_say_instant(lab_with_model):
    at = open_page("train")
    assert "already trained: instant" in texts(at)
    number(at, "Epochs").set_value(2).run()
    assert "expected wait on this machine" in texts(at)


def test_choices_are_kept_on_the_server_for_a_reload(lab_dir):
    """What keep_choices saves under the visitor's cookie id and reads back in a new session."""
    from model.lab import choices

    visitor = "0123456789abcdef0123456789abcdef"
    choices.save(visitor, {"preset": "fast-cnn", "t_lr": (0.001, 0.01), "epochs:classic": 2, "bad": object()})
    assert choices.load(visitor) == {"preset": "fast-cnn", "t_lr": [0.001, 0.01], "epochs:classic": 2}
    assert choices.load("../../etc/passwd") == {}  # only an id of the cookie's form names a file
    choices.save("not-an-id", {"preset": "classic"})
    assert not list((lab_dir / "models" / ".choices").glob("not-an-id*"))
