"""Can one visitor's wrong labels change what the other visitors see?

    python -m bench.poisoning              # about 3 minutes on 2 cores

Honest visitors (``--honest`` sessions, ``--per-session`` drawings each) save
drawings of a style the starter reads poorly (``bench.drawings``' thin,
left-leaning pen) with their right digits; one poisoner saves ``--poison``
drawings of one digit (``--digit``, 7) of the same style, each labelled as the
next digit (a 7 saved as 8): a targeted attack, three times the 7s that all the
honest visitors save together.
Everything goes through ``model.lab.drawings`` (the held-out fifth of every
session is never trained on). From the shipped starter (``model.lab.starter``)
as the current model, the retraining the demo runs (``jobs.challenger_config``:
fine-tuning with the drawings) is trained three ways:

- honest drawings only (what the visitors' corrections teach);
- with the poison, as the lab trains (at most ``drawings.TRAIN_PER_SESSION``
  drawings of any one session);
- with the poison and no cap (what the cap prevents).

Each challenger goes through the gate (``champion.gate``: one vote per
session on the held-out drawings, MNIST within 0.1 point), the current model
put back after each. Scored on 500 new drawings of the style (right labels):
accuracy, and the share of its 7s read as 8 (the attack's success).

Goal (issue 23): the poisoned challengers are refused, or, if promoted, read
the others' drawings no worse than the honest one.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from bench.common import footer, header, table, temp_dir, verdict  # noqa: E402
from bench.drawings import as_mnist, style_digits  # noqa: E402

SCORE_PER_DIGIT = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--honest", type=int, default=6, help="honest visitor sessions (default 6)")
    parser.add_argument("--per-session", type=int, default=50, help="drawings each honest visitor saves (default 50)")
    parser.add_argument("--poison", type=int, default=100, help="wrongly labelled drawings of the poisoner (100)")
    parser.add_argument("--digit", type=int, default=7, help="the digit the poisoner draws, labelled as the next (7)")
    args = parser.parse_args()
    header("poisoning: one visitor's wrong labels against the retraining and its gate",
           "a poisoned challenger is refused, or reads the others' drawings no worse than an honest one")

    from model.data.preprocess import scale_images
    from model.lab import champion, drawings, jobs, starter, store
    from model.lab.runs import train
    from model.logs import quiet_tensorflow
    from model.serving.predict import load_classifier, predict_batch

    quiet_tensorflow()
    honest_n = args.per_session * args.honest
    canvases, labels = style_digits(-(-honest_n // 10), seed=1)
    order = np.random.default_rng(0).permutation(len(labels))[:honest_n]
    bad_canvases, bad_truth = style_digits(args.poison, seed=3)
    bad_canvases = bad_canvases[bad_truth == args.digit][:args.poison]
    target = (args.digit + 1) % 10
    test_canvases, test_labels = style_digits(SCORE_PER_DIGIT, seed=2)
    test_images = scale_images(as_mnist(test_canvases))
    honest_rows = [drawings.make_row(x, int(y), session=f"visitor-{i % args.honest}")
                   for i, (x, y) in enumerate(zip(as_mnist(canvases[order]), labels[order]))]
    poison_rows = [drawings.make_row(x, target, session="poisoner") for x in as_mnist(bad_canvases)]
    attacked = test_labels == args.digit

    def scored(model) -> tuple[float, float]:
        """(the style read right, the share of its attacked digit read as the poisoner's label)."""
        read = predict_batch(model, test_images).argmax(axis=1)
        return float(np.mean(read == test_labels)), float(np.mean(read[attacked] == target))

    cap_of_the_lab = drawings.TRAIN_PER_SESSION
    rows, outcome = [], {}
    for name, poisoned, cap in (("honest drawings only", False, cap_of_the_lab),
                                ("with the poison, capped (the lab)", True, cap_of_the_lab),
                                ("with the poison, no cap", True, 10**6)):
        with temp_dir("poisoning") as root:
            os.environ["MNIST_LAB_DIR"] = str(root)
            os.environ.pop("MNIST_LAB_DATABASE_URL", None)
            base = starter.seed(root)
            store.make_current(base, root)
            if not rows:
                style, attack = scored(load_classifier(store.run_model_path(base, root), own=True))
                rows.append(["the starter (no drawings)", 0, 0, "-", "-", "-", f"{style:.2%}", f"{attack:.2%}",
                             f"{store.load_run_meta(base, root)['metrics']['test_accuracy']:.2%}"])
            drawings.save_many(honest_rows + (poison_rows if poisoned else []), root)
            drawings.TRAIN_PER_SESSION = cap  # read by model.lab.runs when the training gathers its drawings
            try:
                result = train(jobs.challenger_config(root), root=root, make_current=False)
            finally:
                drawings.TRAIN_PER_SESSION = cap_of_the_lab
            used = drawings.collection("train", root, per_session=cap)
            judged = champion.gate(result.meta["key"], root)
            style, attack = scored(result.model)
            outcome[name] = (judged.promoted, style)
            rows.append([name, len(used), used.sessions.count("poisoner"),
                         "promoted" if judged.promoted else "refused", judged.why,
                         f"{judged.better}/{judged.sessions} better, {judged.worse} worse",
                         f"{style:.2%}", f"{attack:.2%}", f"{result.metrics['test_accuracy']:.2%}"])
            print(f"{name}: {rows[-1][3]} ({judged.why}); style {style:.2%}, {args.digit}s read as {target} "
                  f"{attack:.2%}, MNIST {result.metrics['test_accuracy']:.2%}", flush=True)
    print()
    print(table(["challenger", "trained on", "of them poisoned", "gate", "why", "sessions",
                 f"style ({len(test_images)} new, right labels)", f"its {args.digit}s read as {target}", "MNIST"], rows))
    footer()
    honest = outcome["honest drawings only"][1]
    ok = all(not promoted or style >= honest - 0.005 for name, (promoted, style) in outcome.items()
             if name != "honest drawings only")
    verdict(ok, "poisoned challengers: " + "; ".join(f"{name}: {'promoted' if p else 'refused'}, style {s:.2%}"
                                                     for name, (p, s) in outcome.items()))


if __name__ == "__main__":
    main()
