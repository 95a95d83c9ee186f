"""How good is a model on MNIST's 10,000 test images, and where does it fail?

    python -m model evaluate mnist_model.h5
    python -m model evaluate mnist_model.h5 --drawings   # also the held-out saved drawings
"""

from __future__ import annotations

from collections.abc import Sequence

from model.serving.evaluate import evaluate


def main(argv: Sequence[str] | None = None) -> int:
    from model.cli import FAILED, Parser, fail, start_tensorflow

    parser = Parser(prog="python -m model evaluate", description=__doc__.split("\n")[0])
    parser.add_argument("path", help="a .h5 or .keras model file")
    parser.add_argument("--drawings", action="store_true",
                        help="also score the held-out part of the saved drawings (model.lab.drawings)")
    parser.add_argument("--verbose", action="store_true", help="also show TensorFlow's own log messages")
    args = parser.parse_args(argv)
    from model.data.mnist import DataUnavailableError, load_mnist
    from model.serving.contract import InvalidModelError
    from model.serving.predict import load_classifier

    try:
        start_tensorflow(verbose=args.verbose)
        model = load_classifier(args.path)
        _, (x_test, y_test) = load_mnist()
        result = evaluate(model, x_test, y_test)
        drawn = None
        if args.drawings:
            from model.lab.drawings import held_out_evaluation

            drawn = held_out_evaluation(model)
            if drawn is None:
                return fail("no held-out saved drawings to score yet: save some on the Draw page, "
                            "or python -m model drawings import FILE.npz", FAILED)
    except (InvalidModelError, DataUnavailableError) as exc:
        return fail(exc, FAILED)
    except Exception as exc:  # one line, never a traceback
        return fail(f"the evaluation failed: {exc}", FAILED)
    print(f"test loss {result.loss:.4f}  test accuracy {result.accuracy:.4f}")
    print("per-class accuracy  " + "  ".join(f"{d}: {a:.3f}" for d, a in enumerate(result.per_class_accuracy)))
    if drawn is not None:
        scored, held = drawn
        print(f"held-out drawings: accuracy {scored.accuracy:.4f} on {len(held)} "
              f"({int((~scored.correct).sum())} wrong; only the held-out fifth is scored)")
        print("per-class accuracy  " + "  ".join(f"{d}: {a:.3f}" if n else f"{d}: -" for d, (a, n) in
                                                enumerate(zip(scored.per_class_accuracy, scored.confusion.sum(1)))))
    return 0

