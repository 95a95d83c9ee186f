"""Which pixels made a model say what it said, and what each layer computes, as a PNG.

    python -m model explain mnist_model.h5 --image 0       # writes explain-0.png
"""

from __future__ import annotations

from collections.abc import Sequence

from model.insight.figures import report_figure
from model.insight.layers import UnsupportedModelError


def main(argv: Sequence[str] | None = None) -> int:
    from model.cli import BAD_INPUT, FAILED, Parser, fail, start_tensorflow

    parser = Parser(prog="python -m model explain", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a .h5 or .keras model file")
    parser.add_argument("--image", type=int, default=0, help="index of an MNIST test image (0-9999; default 0)")
    parser.add_argument("--out", help="the PNG to write (default explain-N.png)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    args = parser.parse_args(argv)
    if not 0 <= args.image < 10_000:
        return fail(f"--image must be between 0 and 9999, got {args.image}", BAD_INPUT)
    out = args.out or f"explain-{args.image}.png"
    if not out.lower().endswith(".png"):
        return fail(f"--out must name a .png file, got {out}", BAD_INPUT)
    from model.data.mnist import DataUnavailableError, load_mnist
    from model.data.preprocess import scale_images
    from model.serving.contract import InvalidModelError
    from model.serving.predict import load_classifier

    try:
        start_tensorflow(verbose=args.verbose)
        model = load_classifier(args.path)
        _, (x_test, y_test) = load_mnist()
        image = scale_images(x_test[args.image:args.image + 1])[0]
        report_figure(model, image, int(y_test[args.image])).savefig(out, dpi=80)
    except (InvalidModelError, DataUnavailableError, UnsupportedModelError) as exc:
        return fail(exc, FAILED)
    except Exception as exc:  # one line, never a traceback
        return fail(f"the explanation failed: {exc}", FAILED)
    print(f"wrote {out}")
    return 0

