# One image for every process: web (gunicorn), worker and beat (celery).
# Configuration comes from the environment at run time (see README).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

RUN groupadd --system --gid 10001 custody \
    && useradd --system --uid 10001 --gid custody --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin custody

# Dependencies first, from pyproject.toml alone, so code changes reuse this layer.
# The project declares no packages: `pip install .` installs the pinned
# dependencies and the code runs from /app.
COPY pyproject.toml ./
RUN pip install .

# The code stays owned by root (read-only for the service); only var/ is
# writable: static files, the beat schedule, the embedded broker's folders;
# and the ledger witness's mount point (a fresh named volume takes its owner).
COPY . .
RUN mkdir -p /app/var /var/lib/custody/witness /var/lib/custody/exports \
    && chown custody:custody /app/var /var/lib/custody/witness /var/lib/custody/exports

USER custody

# Static files are built into the image and served by WhiteNoise. The key only
# lets the settings load for this one command; it is not in the final environment.
RUN SECRET_KEY=build-only-not-a-secret DEBUG=0 python manage.py collectstatic --noinput -v0

EXPOSE 8000

# WEB_CONCURRENCY (gunicorn reads it itself) sets the number of workers.
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
