"""Every ``MNIST_LAB_*`` setting of the lab, read and validated here and nowhere else.

    from model import settings
    settings.flag("MNIST_LAB_DEMO")        # True / False
    settings.text("MNIST_LAB_WARMUP")      # the raw text ("" when unset)
    settings.number("MNIST_LAB_RETRAIN_AFTER")

A setting is read from the environment at each call (a test, or Community
Cloud's secrets, may set it at any time) and checked against its kind; a bad
value raises ``SettingError`` with one line that names the setting, the value
and what it takes. The README's table of settings lists the same names
(``tests/test_settings.py`` holds the two together, and holds the code to
reading them here only).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

ON = ("1", "true", "yes", "on")
OFF = ("0", "false", "no", "off")


class SettingError(ValueError):
    """A setting has a value it cannot take; the message says which, in one line."""


@dataclass(frozen=True)
class Setting:
    kind: str  # "flag" (on/off), "text", "number" (>= 0), "path", "choice:A,B"
    default: str
    what: str  # one line, for the README's table


SETTINGS: dict[str, Setting] = {
    "MNIST_LAB_DIR": Setting("path", ".", "the work folder: models, the database, uploads"),
    "MNIST_LAB_DATABASE_URL": Setting("text", "", "the lab's database, any SQLAlchemy URL (default: "
                                                  "SQLite in the work folder)"),
    "MNIST_LAB_CACHE": Setting("path", "", "where MNIST is cached (default ~/.cache/mnist-lab)"),
    "MNIST_LAB_DEMO": Setting("flag", "0", "1: the public demo (caps, private uploads, no Tune page)"),
    "MNIST_LAB_DEMO_MODEL": Setting("path", "", "the owner's model file the demo serves (pinned)"),
    "MNIST_LAB_DRAWINGS_ADMIN": Setting("flag", "0", "1: the demo may relabel, delete and export drawings"),
    "MNIST_LAB_WARMUP": Setting("text", "1", "0: no starter; a preset (\"NAME[:EPOCHS]\"): train that one "
                                             "as the starter instead of serving the shipped one"),
    "MNIST_LAB_UPGRADE": Setting("text", "", "the demo's stronger model: a preset (\"NAME[:EPOCHS]\"), "
                                             "0 for none (default strong-cnn, cut to fit 5 minutes)"),
    "MNIST_LAB_RETRAIN_AFTER": Setting("number", "200", "new corrections that start a retraining (0: only the "
                                                        "owner's click)"),
    "MNIST_LAB_PROBE": Setting("flag", "1", "0: never time a new network's steps before estimating it"),
    "MNIST_LAB_BFLOAT16": Setting("choice:,0,1", "", "1 or 0: answer for the CPU whether it computes bfloat16 "
                                                     "natively (unset: ask /proc/cpuinfo)"),
    "MNIST_LAB_SECRET": Setting("text", "", "the key that signs visitor ids (default: made once in the "
                                            "work folder)"),
    "MNIST_LAB_TRUSTED_PROXIES": Setting("number", "0", "proxies of the owner's in front of the app that "
                                                        "append to X-Forwarded-For"),
    "MNIST_LAB_MIN_EPOCH_S": Setting("number", "", "tests: the least seconds an epoch of a background "
                                                   "training takes"),
    "MNIST_LAB_SANDBOX_HOLD": Setting("path", "", "tests: a folder where a sandboxed check waits before "
                                                  "its work"),
}


def _setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"{name} is not a setting of the lab (model.settings.SETTINGS)") from None


def text(name: str) -> str:
    """The setting's text, stripped ("" when unset and it has no default)."""
    value = os.environ.get(name)
    value = (_setting(name).default if value is None else value).strip()
    kind = SETTINGS[name].kind
    if kind.startswith("choice:") and value not in kind[len("choice:"):].split(","):
        raise SettingError(f"{name} must be one of {kind[len('choice:'):].strip(',')} (or unset), got {value!r}")
    return value


def is_set(name: str) -> bool:
    """Is the setting given in the environment (even as "")?"""
    _setting(name)
    return name in os.environ


def flag(name: str) -> bool:
    """An on/off setting: "1", "true", "yes", "on" or "0", "false", "no", "off"."""
    value = text(name).lower()
    if value in ON:
        return True
    if value in OFF or value == "":
        return value == "" and SETTINGS[name].default.lower() in ON
    raise SettingError(f"{name} must be 1 or 0 (on or off), got {value!r}")


def switched_off(name: str) -> bool:
    """Does the setting turn its feature off ("0", "false", "no", "off")? Anything
    else, a preset's name say, leaves it on."""
    return text(name).lower() in OFF


def number(name: str) -> float | None:
    """A number >= 0, or None when unset and without default."""
    value = text(name)
    if value == "":
        return None
    try:
        result = float(value)
    except ValueError:
        raise SettingError(f"{name} must be a number, got {value!r}") from None
    if result < 0:
        raise SettingError(f"{name} must be 0 or more, got {value!r}")
    return result
