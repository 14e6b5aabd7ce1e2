"""Settings of the benchmarks' gunicorn (DJANGO_SETTINGS_MODULE=bench.settings): the product's, plus the
reference views of `bench/urls.py`, which production never mounts."""

from batchhub.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
