"""The pure core of the MNIST lab: data, preprocessing, models, training,
evaluation, prediction and files. It never imports Streamlit, and imports
TensorFlow only inside the functions that need it.

The Python versions the lab supports are said here, once: the ones the pinned
requirements are installed and tested on. Importing the package on another
Python stops at once with one line saying so, instead of failing later deep
inside TensorFlow or NumPy (``python -c "import model"`` checks it).
"""

import sys

SUPPORTED_PYTHON = ((3, 11), (3, 11))  # (oldest, newest) minor versions, both included


def check_python(version: tuple[int, ...] = tuple(sys.version_info)) -> None:
    """Raise ``SystemExit`` with a one-line message unless ``version`` is supported."""
    oldest, newest = SUPPORTED_PYTHON
    if not oldest <= tuple(version[:2]) <= newest:
        span = ".".join(map(str, oldest)) if oldest == newest else \
            f"{'.'.join(map(str, oldest))} to {'.'.join(map(str, newest))}"
        raise SystemExit(f"error: the MNIST lab needs Python {span} (its pinned requirements are tested there), "
                         f"this is Python {'.'.join(map(str, version[:3]))}")


check_python()
