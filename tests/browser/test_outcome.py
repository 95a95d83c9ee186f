"""The lab decides, not the open tab, in Chromium as a person meets it: the
Train page's settings and the job under them survive a page switch mid-training,
and a training finished while the tab was closed is decided all the same: on
coming back its outcome is in view, with "Use this model" when it is worse.
At 1400x1000 and on a phone (390x844, touch)."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from model.training.config import PRESETS, TrainConfig

from .conftest import PHONE, VIEWPORT
from .ui import PAGE_TIMEOUT, TRAIN_TIMEOUT, go_to, idle, open_page, snap, title

pytestmark = pytest.mark.browser
SCREENS = {"desktop": {"viewport": VIEWPORT}, "phone": PHONE}


@pytest.fixture(params=sorted(SCREENS))
def context(request, browser):
    context = browser.new_context(**SCREENS[request.param])
    context.set_default_timeout(30_000)
    context.screen = request.param
    yield context
    context.close()


def set_number(page: Page, label: str, value: int) -> None:
    field = page.get_by_role("spinbutton", name=label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    idle(page)
    expect(field).to_have_value(str(value))


def choose_preset(page: Page, name: str) -> None:
    """Pick a preset and wait for its form (the settings line under the preset names it)."""
    page.get_by_role("combobox", name="Preset", exact=True).click()
    page.get_by_role("option", name=re.compile(rf"^{re.escape(name)}: ")).click()
    # the form drawn anew for it (its batch size; the option's label names the preset at once)
    expect(page.get_by_role("spinbutton", name="Batch size", exact=True)).to_have_value(
        str(PRESETS[name].batch_size))
    expect(page.get_by_role("spinbutton", name="Epochs", exact=True)).to_have_value(str(PRESETS[name].epochs))
    idle(page)


def in_view(page: Page, locator) -> bool:
    box = locator.bounding_box()
    height = page.viewport_size["height"]
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height


def asked(server, key: str, timeout: float = 120) -> None:
    """Wait (a hang guard) until the server's lab has a job for run ``key``."""
    from model.lab import jobs

    deadline = time.monotonic() + timeout
    while not any(j.key == key for j in jobs.list_jobs(root=server.workdir)):
        assert time.monotonic() < deadline, f"no job for {key}: the Train click was lost"
        time.sleep(0.5)


def job_done(server, key: str, timeout: float = 600) -> None:
    """Wait (a hang guard, not a speed check) until the training of run ``key`` has ended in the
    server's lab, its outcome decided (the job's row says so)."""
    from model.lab import jobs

    deadline = time.monotonic() + timeout
    while not any(j.key == key and j.status == "done" and (j.result or {}).get("outcomes")
                  for j in jobs.list_jobs(root=server.workdir)):
        assert time.monotonic() < deadline, f"run {key} never finished"
        time.sleep(1)


def test_the_settings_and_the_job_survive_a_page_switch_mid_training(context, server, screenshots):
    page = context.new_page()
    open_page(page, server, "train", "Train")
    idle(page)
    choose_preset(page, "fast-cnn")
    set_number(page, "Random seed", 11)
    set_number(page, "Epochs", 3 if context.screen == "desktop" else 4)  # two different jobs, one per screen
    page.get_by_role("button", name="Train", exact=True).click()
    expect(page.locator('[data-testid="stMain"] [data-testid="stProgress"]')
           .or_(page.get_by_text("Queued: number")).first).to_be_visible(timeout=PAGE_TIMEOUT)
    go_to(page, "Draw")
    expect(title(page)).to_contain_text("Draw", timeout=PAGE_TIMEOUT)
    idle(page)
    time.sleep(3)  # a person's pause on the Draw page (the job's progress refreshes in the sidebar meanwhile)
    go_to(page, "Train")
    expect(title(page)).to_contain_text("Train", timeout=PAGE_TIMEOUT)
    idle(page)
    expect(page.get_by_role("combobox", name="Preset", exact=True)).to_have_value(re.compile(r"^fast-cnn: "))
    expect(page.get_by_role("spinbutton", name="Random seed", exact=True)).to_have_value("11")
    # the job under the form is that job: running, or its result
    job = page.locator('[data-testid="stMain"]').get_by_text(re.compile(r"Running CNN|Queued: number \d+ in line \(CNN|Result of CNN"))
    expect(job.first).to_be_visible(timeout=PAGE_TIMEOUT)
    snap(page, screenshots / f"train-settings-kept-{context.screen}.png")


def test_a_worse_training_finished_with_the_tab_closed_waits_in_view(context, server, screenshots):
    """The classic MLP for one epoch (about 90%) against the starter (99%): decided
    while no tab is open, kept beside the better model; on return its notice and
    "Use this model" are in view without scrolling."""
    config = TrainConfig(epochs=1, batch_size=512 if context.screen == "desktop" else 256, seed=7)
    page = context.new_page()
    open_page(page, server, "train", "Train")
    idle(page)
    choose_preset(page, "classic")
    set_number(page, "Epochs", config.epochs)
    set_number(page, "Batch size", config.batch_size)
    set_number(page, "Random seed", config.seed)
    expect(page.get_by_text(config.describe(), exact=False).first).to_be_visible()
    idle(page)
    page.get_by_role("button", name="Train", exact=True).click()
    asked(server, config.key())  # the lab has the job (its row), whatever the page shows yet
    page.close()  # the tab is closed mid-training
    job_done(server, config.key(), TRAIN_TIMEOUT / 1000)
    back = context.new_page()  # the same browser comes back later
    open_page(back, server, "train", "Train")
    idle(back)
    notice = back.get_by_text(re.compile(r"finished: \d+\.\d+%: kept, and your better model"))
    expect(notice.first).to_be_visible(timeout=PAGE_TIMEOUT)
    use = back.get_by_role("button", name="Use this model", exact=True).first
    expect(use).to_be_visible()
    assert in_view(back, use), f"'Use this model' is below the fold: {use.bounding_box()}"
    assert "MLP" not in (back.get_by_text(re.compile(r"^Model: ")).first.inner_text())  # the better one stays
    snap(back, screenshots / f"train-worse-kept-{context.screen}.png")
