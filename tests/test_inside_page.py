"""The "Inside the model" page, the Draw page's attribution view and the
Evaluate page's clickable confusion matrix, under Streamlit's AppTest.

A click on an Altair chart (the map, the confusion matrix) reaches the
script as the chart's selection state under its key, so the tests put that
state there; tests/browser/test_explain.py clicks for real."""

from __future__ import annotations

import json
import re

from conftest import drawn_digit, tiny_model
from test_pages import app, canvas_state, open_page, texts


def subheaders(at) -> list[str]:
    return [s.value for s in at.subheader]


def map_chart(at):
    return at.get("vega_lite_chart")[-1].proto  # the map comes last


def map_tables(at) -> list:
    """The map's data sets (Streamlit sends them as Arrow, beside the spec), as DataFrames."""
    from streamlit.dataframe_util import convert_arrow_bytes_to_pandas_df

    return [convert_arrow_bytes_to_pandas_df(d.data.data) for d in map_chart(at).datasets]


def test_inside_without_model_offers_training(lab_dir):
    at = open_page("inside")
    assert "No model yet" in texts(at)


def test_inside_shows_the_image_weights_layers_and_map(lab_with_model):
    at = open_page("inside")
    assert at.title[0].value == "Inside the model"
    heads = subheaders(at)
    assert heads[0] == "The image: test image 0, a 7, read as 7"
    assert heads[1:] == ["What the first layer looks for", "Every layer's output for test image 0, in network order",
                         "Where the test images lie in the network's own space"]
    assert re.match(r"dense(_\d+)?: each unit's weights on the 784 pixels", at.get("image")[1].proto.imgs[0].caption)
    strips = [json.loads(c.proto.spec)["title"]["text"] for c in at.get("vega_lite_chart")[:-1]]
    # Keras numbers layer names per process (dense, dense_1, ... dense_6): the kinds, in order.
    assert [re.sub(r"_\d+:", ":", s) for s in strips] == [
        "dense: 128 values", "activation: 128 values", "dense: 128 values", "activation: 128 values",
        "probabilities: 10 values"]
    # Streamlit fits a stretched chart's title, padding and plot into the spec's height unless told
    # otherwise ("fit"): 60 px left the bars no room, every strip was blank.
    assert all(json.loads(c.proto.spec)["autosize"]["type"] == "fit-x" for c in at.get("vega_lite_chart")[:-1])
    assert "Why 7" in at.get("html")[-1].proto.body  # the attribution of the prediction
    [points] = map_tables(at)
    assert len(points) == 2000 and {"image", "digit", "read as", "index", "result"} <= set(points.columns)
    assert points["image"][0].startswith("data:image/png;base64,")
    assert "wrong" in set(points["result"])  # mistakes are marked
    assert any(p["name"] == "pick" for p in json.loads(map_chart(at).spec).get("params", []))

    at.number_input(key="inside_index").set_value(1).run()
    assert subheaders(at)[0] == "The image: test image 1, a 2, read as 2"


def test_a_click_on_the_map_chooses_that_image(lab_with_model):
    at = open_page("inside")
    at.session_state["inside_map"] = {"selection": {"pick": [{"index": 42}]}}
    at.run()
    assert not at.exception, at.exception
    assert subheaders(at)[0].startswith("The image: test image 42, a 4")
    assert at.number_input(key="inside_index").value == 42
    at.number_input(key="inside_index").set_value(5).run()  # the same click does not pull it back
    assert subheaders(at)[0].startswith("The image: test image 5,")


def test_the_last_drawing_is_on_the_page_and_on_the_map(lab_with_model):
    at = app().run()
    at.switch_page("app_pages/draw.py")
    at.session_state["draw"] = canvas_state(drawn_digit([[(140, 40), (140, 240)]], width=22))
    at.run()
    assert [e.label for e in at.expander] == ["Why does it read 1?"]
    at.switch_page("app_pages/inside.py").run()
    assert not at.exception, at.exception
    assert at.radio(key="inside_source").options == ["A test image", "Your last drawing"]
    points, drawing = map_tables(at)  # the drawing's marker: a layer of its own
    assert list(drawing["label"]) == ["your drawing"] and len(points) == 2000
    at.radio(key="inside_source").set_value("Your last drawing").run()
    assert subheaders(at)[0] == "The image: your last drawing, read as 1"
    assert "Every layer's output for your last drawing, in network order" in subheaders(at)


def test_draw_shows_why_and_why_not(lab_with_model):
    at = app().run()
    at.switch_page("app_pages/draw.py")
    at.session_state["draw"] = canvas_state(drawn_digit([[(140, 40), (140, 240)]], width=22))
    at.run()
    assert not any("Attribution for" in h.proto.body for h in at.get("html"))  # made only on request
    at.session_state["draw_why_expander"] = True  # the visitor opens "Why does it read 1?"
    at.run()
    assert not at.exception, at.exception
    heat = at.get("html")[-1].proto.body
    assert 'alt="Attribution for 1 (Integrated gradients)"' in heat and "Why 1" in heat
    at.selectbox(key="draw_why").set_value(7).run()
    assert 'alt="Attribution for 7 (Integrated gradients)"' in at.get("html")[-1].proto.body
    assert not at.get("radio")  # an MLP: no Grad-CAM
    at.toggle(key="draw_explain").set_value(False).run()
    assert not any("Attribution for" in h.proto.body for h in at.get("html"))


def test_a_cnn_gets_grad_cam_and_feature_maps(lab_dir):
    import keras

    from model.lab import store

    keras.utils.set_random_seed(0)
    model = tiny_model(inputs=(28, 28, 1), extra=lambda x: keras.layers.Conv2D(4, 3, activation="relu")(x))
    store.save_model(model, lab_dir / "mnist_model.h5")
    at = open_page("inside")
    assert not at.exception, at.exception
    assert "each filter's 3x3 kernel" in at.get("image")[1].proto.imgs[0].caption
    assert "4 feature maps of 26x26" in at.get("image")[2].proto.imgs[0].caption
    at.radio(key="inside_method").set_value("Grad-CAM").run()
    assert "Grad-CAM for" in at.get("html")[-1].proto.body


def test_a_click_on_a_confusion_cell_lists_its_images(lab_with_model):
    at = open_page("evaluate")
    assert "Click a cell of the confusion matrix" in texts(at)
    at.session_state["confusion_chart"] = {"selection": {"cell": [{"true": 4, "predicted": 9}]}}
    at.run()
    assert not at.exception, at.exception
    listed = [m.value for m in at.markdown if "read as" in m.value]
    assert listed and listed[0].startswith("**") and "test images of digit 4 read as 9" in listed[0]
    body = next(h.proto.body for h in at.get("html") if "p(9)" in h.proto.body)  # the cell's images, beside the chart
    shown = body.count("<img")
    assert 0 < shown <= 20 and "p(9)" in body
    probabilities = [float(p.split("%")[0]) for p in body.split("p(9) ")[1:]]
    assert probabilities == sorted(probabilities, reverse=True)  # the most confident first
    at.toggle(key="cell_explain").set_value(True).run()
    assert sum(h.proto.body.count('alt="Attribution for 9') for h in at.get("html")) == shown
