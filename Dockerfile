# BatchHub image: the web server by default (gunicorn); the same image runs the worker and beat.
#   docker build -t batchhub .
#   docker run -p 8000:8000 --env-file prod.env batchhub                       # web
#   docker run --env-file prod.env batchhub celery -A batchhub worker -l INFO  # worker
#   docker run --env-file prod.env batchhub celery -A batchhub beat -l INFO    # beat (exactly one)
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    BATCHHUB_ENV=production \
    PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 1000 batchhub

COPY requirements/base.txt requirements/base.txt
RUN pip install -r requirements/base.txt

COPY . .
# collectstatic needs settings to load: throwaway values, used only during the build.
RUN DATABASE_URL=sqlite:////tmp/build.sqlite3 REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY=build-only-$(python -c 'import secrets; print(secrets.token_hex(32))') \
    FIELD_ENCRYPTION_KEY=$(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())') \
    ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --noinput -v 0 \
 && mkdir -p /app/var && chown -R batchhub /app/var /app/staticfiles

USER batchhub
EXPOSE 8000
# gunicorn.conf.py: 3 processes of 32 threads on $PORT (WEB_CONCURRENCY, GUNICORN_THREADS), access log on stdout.
CMD ["gunicorn"]
