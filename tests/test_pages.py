"""Each page under Streamlit's AppTest: with and without a model, the Train
button (a background job, followed until it ends), the Evaluate metrics and
grid, and the Draw page with a settled drawing injected through the canvas
component's session state (AppTest runs no JavaScript; tests/browser/test_draw.py
draws for real)."""

from __future__ import annotations

import base64
import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, drawn_digit
from PIL import Image
from streamlit.testing.v1 import AppTest

from model.lab import store
from model.training.config import PRESETS

TIMEOUT = 600  # s: a hang guard; training the default model takes 10 to 40 s on two cores, more when paced


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=TIMEOUT)


def open_page(page: str) -> AppTest:
    at = app().run()
    at.switch_page(f"app_pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def wait(at: AppTest, until, timeout: float = TIMEOUT) -> AppTest:
    """Rerun the page until ``until(at)`` holds: a job runs in its own process."""
    deadline = time.monotonic() + timeout
    while not until(at):
        assert time.monotonic() < deadline, f"timed out; the page says: {texts(at)}"
        time.sleep(1.0)
        at.run()
        assert not at.exception, at.exception
    return at


def texts(at: AppTest) -> str:
    return " ".join(str(e.value) for kind in (at.info, at.success, at.warning, at.error, at.markdown, at.caption)
                    for e in kind)


def canvas_state(rgba, seq: int = 1, probs=None) -> dict:
    """What the canvas component (app_pages/draw_canvas) keeps in its state when
    a drawing settles: the PNG, and the browser's probabilities if it read it."""
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    png = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"seq": seq, "png": png, "probs": probs, "reader": "browser" if probs else "server"}}


def canvas_data(at: AppTest) -> dict:
    """The data the page gave the canvas component on its last run."""
    proto = at.get("bidi_component")[0].proto
    return json.loads(proto.json or proto.mixed.json)


def test_home_without_model(lab_dir):
    at = app().run()
    assert not at.exception
    assert at.title[0].value.endswith("MNIST lab")
    assert "No model yet" in texts(at)


@pytest.mark.parametrize("page", ["evaluate", "draw"])
def test_pages_without_model_offer_training(lab_dir, page):
    at = open_page(page)
    assert "No model yet" in texts(at)
    assert at.button(key="train_default").label.startswith("Use the starter model (fast-cnn")


def test_train_page_shows_the_classic_recipe(lab_dir):
    at = open_page("train")
    assert at.selectbox(key="preset").value == "classic"
    assert at.selectbox(key="architecture:classic").value == "mlp"
    assert at.text_input[0].value == "128,128"
    assert at.number_input(key="lr:sgd:classic").value == pytest.approx(0.01)
    assert [n.value for n in at.number_input if n.label in ("Batch size", "Epochs")] == [32, 3]
    assert "MLP 784-128-128-10, SGD lr 0.01, batch 32, 3 epochs" in texts(at)


def test_train_page_rejects_bad_settings(lab_dir):
    at = open_page("train")
    at.text_input[0].set_value("128,abc").run()
    assert not at.exception
    assert "Check the settings" in at.error[0].value
    at.text_input[0].set_value("128").run()
    at.number_input(key="lr:sgd:classic").set_value(0.0).run()
    assert "learning rate must be > 0" in at.error[0].value
    assert not (lab_dir / "mnist_model.h5").exists()


def test_train_button_trains_saves_and_caches(lab_dir):
    at = open_page("train")
    at.number_input(key="lr:sgd:classic").set_value(0.05).run()  # a quick run: one epoch, big batches
    [n for n in at.number_input if n.label == "Epochs"][0].set_value(1).run()
    [n for n in at.number_input if n.label == "Batch size"][0].set_value(256).run()
    at.button(key="train").click().run()
    assert not at.exception, at.exception
    assert "Queued" in texts(at) or at.get("progress")  # started in the background
    wait(at, lambda at: at.metric)
    accuracy = float(at.metric[0].value.rstrip("%")) / 100
    assert accuracy > 0.80
    assert (lab_dir / "mnist_model.h5").exists()
    sidecar = json.loads((lab_dir / "mnist_model.json").read_text())
    assert sidecar["config"]["epochs"] == 1 and sidecar["config"]["batch_size"] == 256
    assert sidecar["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    assert "now your model: the Evaluate and Draw pages use it" in texts(at)

    at.button(key="train").click().run()  # same settings: the saved run comes back
    assert "trained before" in texts(at)
    assert float(at.metric[0].value.rstrip("%")) / 100 == pytest.approx(accuracy, abs=1e-4)


def test_evaluate_shows_metrics_grid_and_confusion(lab_with_model):
    at = open_page("evaluate")
    metrics = {m.label: m.value for m in at.metric}
    assert float(metrics["Test accuracy"].rstrip("%")) >= 93.5
    assert len(at.get("image")) == 3  # the digits beside their probabilities
    grids = [h.proto.body for h in at.get("html") if 'class="digit-grid"' in h.proto.body]
    assert len(grids) == 2  # the sample, the worst mistakes
    assert grids[0].count("<figure") == 25 and "#25 pred" in grids[0]
    grid = grids[0]
    at.toggle(key="only_mistakes").set_value(True).run()
    assert not at.exception

    def first_grid() -> str:
        return next(h.proto.body for h in at.get("html") if 'class="digit-grid"' in h.proto.body)

    mistakes_grid = first_grid()
    assert mistakes_grid != grid and mistakes_grid.count("✗</figcaption>") == 25
    at.button(key="new_sample").click().run()
    assert first_grid() != mistakes_grid
    assert "Confusion matrix" in [h.value for h in at.subheader]
    assert [b.label for b in at.get("download_button")] == ["Download .keras", "Download .h5", "Download .tflite"]


def test_draw_empty_canvas_gives_a_hint(lab_with_model):
    at = open_page("draw")
    assert "Draw a digit" in texts(at)
    assert at.get("bidi_component")  # the canvas
    assert not at.get("html")  # no chart before a drawing


def test_draw_gives_the_canvas_the_models_web_export(lab_with_model):
    from app_pages.draw import static_url

    at = open_page("draw")
    data = canvas_data(at)
    assert data["reader"] == "browser" and data["static"] == static_url() == "/app/static/"
    assert data["model"]["shape"] == [1, 784]
    assert (ROOT / "static" / data["model"]["url"]).read_bytes()[4:8] == b"TFL3"


def test_draw_shows_what_the_browser_read_without_a_model_call(lab_with_model, monkeypatch):
    """A drawing the browser has read comes with its 28x28 image and
    probabilities: the server shows them, and neither preprocesses the
    drawing nor runs the model for it (no attribution unless asked)."""
    from model.serving import predict

    at = app().run()
    at.switch_page("app_pages/draw.py").run()
    monkeypatch.setattr(predict, "predict_proba", lambda *a, **k: pytest.fail("the server ran the model"))
    from model.lab import canvas

    monkeypatch.setattr(canvas, "canvas_to_mnist", lambda *a: pytest.fail("the server preprocessed the drawing"))
    one = drawn_digit([[(140, 40), (140, 240)]], width=22)
    probs = [0.01] * 10
    probs[1] = 0.91
    state = canvas_state(one, probs=probs)
    state["drawing"]["seen"] = base64.b64encode(bytes(range(28)) * 28).decode()  # the browser's 28x28
    at.session_state["draw"] = state
    at.run()
    assert not at.exception, at.exception
    chart = at.get("html")[0].proto.body  # the ten probabilities
    assert "Probability of each digit" in chart and "1: 91.0%" in chart
    assert len(at.get("imgs")) + len(at.get("image")) >= 1  # what the model saw
    assert [e.label for e in at.expander] == ["Why does it read 1?"]
    assert canvas_data(at)["server"] is None


def test_draw_reads_on_the_server_when_the_browser_did_not(lab_with_model):
    at = app().run()
    at.switch_page("app_pages/draw.py")
    at.session_state["draw"] = canvas_state(drawn_digit([[(140, 40), (140, 240)]], width=22), seq=4)
    at.run()
    assert not at.exception, at.exception
    server = canvas_data(at)["server"]
    assert server["seq"] == 4 and int(np.argmax(server["probs"])) == 1  # the canvas shows the server's reading
    assert "1: " in at.get("html")[0].proto.body


def test_read_on_the_server_in_the_address(lab_with_model):
    at = app()
    at.query_params["reader"] = "server"
    at.run()
    at.switch_page("app_pages/draw.py").run()
    data = canvas_data(at)
    assert data["reader"] == "server" and data["model"] is None and "reader=server" in data["why"]
    assert at.sidebar.toggle(key="read_on_server").value is True


def test_draw_a_dot_is_refused_with_a_message(lab_with_model):
    at = app().run()
    at.switch_page("app_pages/draw.py")
    at.session_state["draw"] = canvas_state(drawn_digit([[(140, 140), (141, 141)]], width=8))
    at.run()
    assert not at.exception
    assert "too small" in at.warning[0].value
    assert "too small" in canvas_data(at)["server"]["error"]


def test_draw_a_cleared_canvas_shows_the_hint_again(lab_with_model):
    at = app().run()
    at.switch_page("app_pages/draw.py")
    at.session_state["draw"] = canvas_state(drawn_digit([[(140, 40), (140, 240)]], width=22))
    at.run()
    assert at.get("html")
    at.session_state["draw"] = {"drawing": None}  # the canvas's Clear
    at.run()
    assert not at.get("html")
    assert "Draw a digit" in texts(at)


def test_corrupt_model_file_offers_retraining(lab_with_model):
    path: Path = lab_with_model / "mnist_model.h5"
    path.write_bytes(path.read_bytes()[:2000])
    for page in ("evaluate", "draw"):
        at = open_page(page)
        assert "can't be used" in texts(at)
        assert "train a new one on the Train page" in texts(at)


def test_no_model_the_draw_page_offers_the_shipped_starter(lab_dir):
    """The offer on an empty lab (warm-up off) makes the starter model that
    ships with the app current at once: no training, no job."""
    from model.lab import jobs, starter

    at = open_page("draw")
    at.button(key="train_default").click().run()
    assert not at.exception, at.exception
    assert store.current_run(lab_dir).key == starter.shipped_key()
    assert "Draw a digit" in texts(at)
    assert jobs.list_jobs() == []


def test_an_empty_lab_serves_its_shipped_starter_at_once(lab_dir, monkeypatch):
    """Warm-up on and no model: the first page run makes the shipped starter
    current; the Draw page shows the canvas on that first run, nothing trains."""
    from model.lab import jobs, starter

    monkeypatch.setenv("MNIST_LAB_WARMUP", "1")
    at = app().run()
    assert "the starter that ships with the app" in texts(at)  # the home page says where it comes from
    at.switch_page("app_pages/draw.py").run()
    assert not at.exception, at.exception
    assert "Getting ready" not in texts(at) and "Draw a digit" in texts(at)
    assert store.current_run(lab_dir).key == starter.shipped_key()
    assert jobs.list_jobs() == []


def test_a_fresh_demo_starts_its_stronger_model_on_the_first_visit(lab_dir, monkeypatch):
    """The shipped starter serves from the first page run, and that same run
    queues the stronger model: a lone visitor then draws in the canvas's
    fragment, which reruns no page that could start it later."""
    from model.lab import jobs, starter

    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    monkeypatch.setenv("MNIST_LAB_WARMUP", "1")
    monkeypatch.setenv("MNIST_LAB_UPGRADE", "classic:1")
    monkeypatch.setattr(jobs, "_upgrade_seen", set())
    monkeypatch.setattr(jobs, "ensure_runner", lambda root=None, workers=None: None)  # queued, not run here
    at = app().run()
    assert not at.exception, at.exception
    assert store.current_run(lab_dir).key == starter.shipped_key()
    [job] = jobs.list_jobs(session=jobs.UPGRADE_SESSION)
    assert job.status == "queued" and job.params["make_current"] == "if_better"


def test_an_empty_lab_trains_the_starter_its_owner_names(lab_dir, monkeypatch):
    """``MNIST_LAB_WARMUP`` names a preset: the Draw page says it is getting
    ready, a background job trains that preset once, then the canvas is there."""
    from model.lab import jobs
    from model.training.config import TrainConfig

    monkeypatch.setenv("MNIST_LAB_WARMUP", "quick")
    monkeypatch.setitem(PRESETS, "quick", TrainConfig(epochs=1, batch_size=256, learning_rate=0.1))
    at = open_page("draw")
    assert "Getting ready" in texts(at)
    wait(at, lambda at: "Draw a digit" in texts(at))
    assert (lab_dir / "mnist_model.h5").exists()
    assert len(jobs.list_jobs()) == 1  # once, for everyone


def test_choosing_a_preset_fills_the_widgets(lab_dir):
    at = open_page("train")
    at.selectbox(key="preset").set_value("strong-cnn").run()
    assert not at.exception
    assert at.selectbox(key="architecture:strong-cnn").value == "cnn"
    assert at.checkbox(key="batch_norm:strong-cnn").value is True
    assert PRESETS["strong-cnn"].describe() in texts(at)
    assert "CNN conv 32x2-64x2 (3x3 valid) + dense 256, ADAM lr 0.003, batch 128" in texts(at)


def test_evaluate_compares_two_kept_models(lab_with_model, default_run):
    from model.lab.registry import import_model

    meta = import_model(default_run.path.read_bytes(), "copy.h5", max_bytes=10**8)
    at = open_page("evaluate")
    at.selectbox(key="compare_with").set_value(meta["key"]).run()
    assert not at.exception, at.exception
    assert "They disagree on **0**" in texts(at)


def test_tune_page_runs_a_small_search(lab_dir):
    at = open_page("tune")
    at.number_input(key="t_trials").set_value(2).run()
    at.number_input(key="t_subset").set_value(5_000).run()
    at.button(key="search").click().run()
    assert not at.exception, at.exception
    wait(at, lambda at: "Best:" in texts(at))
    assert len(at.dataframe[-1].value) == 2
    columns = list(at.dataframe[-1].value.columns)  # headed in words, the score first
    assert columns[:3] == ["Validation accuracy", "Time", "Trial"] and "Learning rate" in columns, columns
    assert "ran before" not in texts(at)
    at.button(key="search").click().run()  # the same search again: its trials are reused, and it says so
    wait(at, lambda at: "Best:" in texts(at))
    assert "its trials were reused" in texts(at)
    assert len(at.dataframe[-1].value) == 2
    assert "Best:" in texts(at)


def test_tune_page_is_off_in_demo_mode(lab_dir, monkeypatch):
    """Off in the demo: not in the menu nor among the home page's links (locally it is in both);
    the page itself, reached anyway, says so and offers nothing to press."""
    from model.lab.limits import DEMO

    at = app().run()
    assert any("tune" in link.proto.page for link in at.get("page_link"))
    at.switch_page("app_pages/tune.py")  # registered locally
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    at = app().run()
    assert not any("tune" in link.proto.page for link in at.get("page_link"))
    with pytest.raises(ValueError, match="Could not find a navigation page"):
        at.switch_page("app_pages/tune.py")
    from streamlit.testing.v1 import AppTest

    page = AppTest.from_file(str(ROOT / "app_pages" / "tune.py"), default_timeout=60).run()
    assert "off in this public demo" in " ".join(m.value for m in [*page.info, *page.warning])
    assert not page.button and not DEMO.tuning


def test_a_pinned_demo_model_is_what_every_visitor_draws_with(lab_dir, default_run, monkeypatch):
    """The owner's own file: no starter model is trained, and the Draw page reads with it."""
    import shutil

    from model.lab import jobs

    pinned = lab_dir / "owner.h5"
    shutil.copy(default_run.path, pinned)
    monkeypatch.setenv("MNIST_LAB_DEMO", "1")
    monkeypatch.setenv("MNIST_LAB_WARMUP", "1")
    monkeypatch.setenv("MNIST_LAB_DEMO_MODEL", str(pinned))
    at = open_page("draw")
    assert "Model: the demo model (owner.h5)" in texts(at)
    assert at.sidebar.selectbox(key="model_key").value == "default"
    assert jobs.list_jobs() == []


def test_an_error_in_a_page_is_one_line_not_a_traceback(lab_with_model, monkeypatch):
    from model.serving import evaluate

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire\nTraceback (most recent call last): ...")

    monkeypatch.setattr(evaluate, "evaluate", broken)
    at = open_page("evaluate")
    assert not at.exception
    assert [e.value for e in at.error] == ["Something went wrong here: disk on fire"]
