"""Every MNIST_LAB_* setting is read in one place (model.settings), validated
there with a one-line message, and listed in the README's table of settings."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from model import settings

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"MNIST_LAB_[A-Z0-9_]+")
# Reading the environment by hand: os.environ.get("X"), os.environ["X"], os.getenv("X"), "X" in os.environ
READ = re.compile(r"""(environ\.get\(\s*|environ\[\s*|getenv\(\s*)["']MNIST_LAB_|["']MNIST_LAB_[A-Z0-9_]+["']\s+(not\s+)?in\s+os\.environ""")


def code_files() -> list[Path]:
    return [*(ROOT / "model").rglob("*.py"), *(ROOT / "app_pages").rglob("*.py"), ROOT / "dashboard.py"]


CONSTANT = re.compile(r"""^(\w+)\s*=\s*["']MNIST_LAB_[A-Z0-9_]+["']""", flags=re.M)


def hand_reads(text: str) -> list[str]:
    """Lines reading an MNIST_LAB_ variable from the environment, by its name or a constant holding it."""
    constants = CONSTANT.findall(text)
    by_constant = re.compile(r"(environ\.get\(\s*|environ\[\s*|getenv\(\s*)(" + "|".join(constants) + r")\b") \
        if constants else None
    return [line.strip() for line in text.splitlines()
            if READ.search(line) or (by_constant is not None and by_constant.search(line))]


def test_the_code_reads_its_settings_through_the_one_module():
    outside = {str(p.relative_to(ROOT)): hand_reads(p.read_text()) for p in code_files()
               if p.name != "settings.py"}
    assert {p: lines for p, lines in outside.items() if lines} == {}
    named = {name for p in code_files() for name in NAME.findall(p.read_text())}
    assert named - set(settings.SETTINGS) == set(), "settings named in the code but not in model.settings"


def test_the_check_finds_a_setting_read_by_hand():
    """Negative control: each way of reading the environment by hand is caught."""
    for line in ('x = os.environ.get("MNIST_LAB_NEW", "")', "os.environ['MNIST_LAB_NEW']",
                 'os.getenv("MNIST_LAB_NEW")', 'if "MNIST_LAB_NEW" not in os.environ:'):
        assert hand_reads(line) == [line], line
    assert hand_reads('env = {**os.environ, "MNIST_LAB_DIR": str(root)}') == []  # a child's, written
    assert hand_reads('HOLD = "MNIST_LAB_NEW"\nx = os.environ.get(HOLD)') == ["x = os.environ.get(HOLD)"]


def test_every_setting_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    rows = set(re.findall(r"^\| `(MNIST_LAB_[A-Z0-9_]+)` \|", readme, flags=re.M))
    assert rows == set(settings.SETTINGS)


@pytest.mark.parametrize(("name", "value", "message"), [
    ("MNIST_LAB_DEMO", "maybe", "MNIST_LAB_DEMO must be 1 or 0 (on or off), got 'maybe'"),
    ("MNIST_LAB_RETRAIN_AFTER", "lots", "MNIST_LAB_RETRAIN_AFTER must be a number, got 'lots'"),
    ("MNIST_LAB_RETRAIN_AFTER", "-1", "MNIST_LAB_RETRAIN_AFTER must be 0 or more, got '-1'"),
    ("MNIST_LAB_BFLOAT16", "yes", "MNIST_LAB_BFLOAT16 must be one of 0,1 (or unset), got 'yes'"),
])
def test_a_bad_value_is_one_line_naming_the_setting(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    read = settings.flag if settings.SETTINGS[name].kind == "flag" else \
        settings.number if settings.SETTINGS[name].kind == "number" else settings.text
    with pytest.raises(settings.SettingError) as caught:
        read(name)
    assert str(caught.value) == message and "\n" not in str(caught.value)


def test_defaults_and_values(monkeypatch):
    for name in ("MNIST_LAB_DEMO", "MNIST_LAB_PROBE", "MNIST_LAB_RETRAIN_AFTER", "MNIST_LAB_UPGRADE"):
        monkeypatch.delenv(name, raising=False)
    assert settings.flag("MNIST_LAB_DEMO") is False and settings.flag("MNIST_LAB_PROBE") is True
    assert settings.number("MNIST_LAB_RETRAIN_AFTER") == 200 and not settings.is_set("MNIST_LAB_UPGRADE")
    monkeypatch.setenv("MNIST_LAB_DEMO", " on ")
    monkeypatch.setenv("MNIST_LAB_PROBE", "0")
    assert settings.flag("MNIST_LAB_DEMO") and not settings.flag("MNIST_LAB_PROBE")
    with pytest.raises(KeyError, match="not a setting"):
        settings.text("MNIST_LAB_NOPE")
