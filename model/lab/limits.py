"""What a session may ask for. Locally, little is capped; in public demo mode
(``MNIST_LAB_DEMO=1``, e.g. in the app's secrets on Community Cloud) strangers
share one small server, so epochs, model size and uploads are capped and
hyperparameter tuning is off, background jobs have a time budget and each
session at most one waiting job, and visitors' runs share a disk quota.
Visitors may save drawings there (capped per session and in all), but only
the owner (the local app, or ``MNIST_LAB_DRAWINGS_ADMIN=1``) may relabel,
delete or export them: a stranger must not wipe or harvest the collection.
Training runs one job at a time in both modes (these machines have 2 cores)."""

from __future__ import annotations

from dataclasses import dataclass

from model import settings
from model.training.config import MAX_EPOCHS, MAX_UNITS, ConfigError, TrainConfig


@dataclass(frozen=True)
class Limits:
    demo: bool
    max_epochs: int
    max_units: int
    max_filters: int
    max_upload_bytes: int
    tuning: bool
    workers: int = 1  # background jobs running at once
    max_queue: int = 20  # jobs waiting, at most
    queued_per_session: int = 20
    job_seconds: int = 0  # wall-clock budget of a job; 0 is none
    disk_quota_bytes: int = 0  # all kept runs and uploads; least recently used evicted first; 0 is none
    drawings_per_session: int = 0  # saved drawings a session may add; 0 is no cap
    max_drawings: int = 0  # saved drawings in all; 0 is no cap

    def check(self, config: TrainConfig) -> None:
        """Raise ConfigError when ``config`` asks for more than is allowed here."""
        where = " in this public demo" if self.demo else ""
        if config.epochs > self.max_epochs:
            raise ConfigError(f"at most {self.max_epochs} epochs{where}, got {config.epochs}")
        if max(config.hidden_units, default=0) > self.max_units:
            raise ConfigError(f"at most {self.max_units} units a layer{where}")
        if config.architecture == "cnn" and max(config.conv_filters) > self.max_filters:
            raise ConfigError(f"at most {self.max_filters} conv filters a layer{where}")


LOCAL = Limits(demo=False, max_epochs=MAX_EPOCHS, max_units=MAX_UNITS, max_filters=512,
               max_upload_bytes=50 * 2**20, tuning=True)  # = maxUploadSize in .streamlit/config.toml
DEMO = Limits(demo=True, max_epochs=5, max_units=512, max_filters=64,
              max_upload_bytes=5 * 2**20, tuning=False, max_queue=8, queued_per_session=1,
              job_seconds=10 * 60, disk_quota_bytes=500 * 2**20,
              # A drawing is about 2 KiB (its PNG and 28x28 image): 20,000 are ~40 MiB.
              drawings_per_session=100, max_drawings=20_000)


def demo_mode() -> bool:
    return settings.flag("MNIST_LAB_DEMO")


def drawings_admin() -> bool:
    """May this app relabel, delete and export the saved drawings? The owner's
    local app yes; the public demo only with ``MNIST_LAB_DRAWINGS_ADMIN=1``."""
    if settings.flag("MNIST_LAB_DRAWINGS_ADMIN"):
        return True
    return not demo_mode()


def auto_warmup() -> bool:
    """Train a starter model by itself when the app has none (default on;
    ``MNIST_LAB_WARMUP=0`` turns it off, e.g. for tests; a preset's name
    chooses it: ``model.lab.jobs.starter_preset``)."""
    return not settings.switched_off("MNIST_LAB_WARMUP")


def current_limits() -> Limits:
    return DEMO if demo_mode() else LOCAL
