"""The Draw page's canvas: a Streamlit components v2 component of the lab's
own (HTML, CSS and JavaScript from this folder, no build step) that reads the
drawing in the visitor's browser as it is drawn.

    from app_pages.draw_canvas import MODULE, draw_canvas
    result = draw_canvas(key="draw", data={..., "module": MODULE}, on_drawing_change=..., ...)

``draw.js`` says what goes in and out. The component's module is
``preprocess.js`` (the browser's copy of ``model.data.preprocess.canvas_to_mnist``)
followed by ``draw.js`` (``component_js()``, which the parity test loads too).

A component's JavaScript, CSS and HTML go to the browser with every rerun
of the page's fragment (every settled drawing): 48 kB, whose compression alone
took the server 1.3-2.8 ms a rerun. So the module is published once into the
app's static folder under a name made of its hash (``static/draw_canvas/``,
cached by browsers for good) and the component's own JavaScript is a loader
of a few lines. Where the folder can't be written or isn't served, the
component carries the whole module inline instead (``MODULE`` is None)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from pathlib import Path

import streamlit as st

from model.files import write_bytes

HERE = Path(__file__).parent
NAME = "mnist_lab.draw_canvas"
STATIC_DIR = HERE.parents[1] / "static"
FOLDER = "draw_canvas"
log = logging.getLogger("mnist_lab")

LOADER = """// The Draw page's canvas: its module (app_pages/draw_canvas/preprocess.js + draw.js) comes from
// the static folder, under a name made of its hash (data.module), once; see __init__.py.
const modules = new Map();
export default function (component) {
  const url = new URL(component.data.static + component.data.module, location.origin).href;
  if (!modules.has(url)) modules.set(url, import(url));
  let cleanup = null, gone = false;
  modules.get(url).then((m) => { if (!gone) cleanup = m.default(component); },
                        (error) => console.error("MNIST lab: the canvas did not load", error));
  return () => { gone = true; if (cleanup) cleanup(); };
}
"""


def component_js() -> str:
    """The component's ES module: the preprocessing, then the component."""
    return (HERE / "preprocess.js").read_text() + "\n" + (HERE / "draw.js").read_text()


def publish(static_dir: Path = STATIC_DIR) -> str | None:
    """Write the module into ``static_dir/draw_canvas/module-<hash>.js`` unless
    it is there; its path under the static URL, or None if the app serves no
    static files or the folder can't be written."""
    if not st.get_option("server.enableStaticServing"):
        return None
    data = component_js().encode()
    name = f"{FOLDER}/module-{hashlib.sha256(data).hexdigest()[:16]}.js"
    target = static_dir / name
    try:
        if not target.exists():
            write_bytes(target, data)
            for old in target.parent.glob("module-*.js"):  # earlier versions, unused for a day
                with contextlib.suppress(OSError):
                    if old != target and time.time() - old.stat().st_mtime > 86400:
                        old.unlink()
    except OSError as exc:
        log.warning("the canvas's module goes inline: %s", exc)
        return None
    return name


MODULE = publish()
draw_canvas = st.components.v2.component(NAME, html=(HERE / "draw.html").read_text(),
                                         css=(HERE / "draw.css").read_text(),
                                         js=LOADER if MODULE else component_js())
