# One image for every process of Naija-Forum: web (gunicorn, the default CMD), the Celery
# workers, beat and Flower. docker-compose.yml picks the command per service.
FROM python:3.11-slim

# gunicorn reads WEB_CONCURRENCY as its worker count; override it at run time to scale.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=2

WORKDIR /app

# Dependencies before the code, so editing code does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings refuse to import without DATABASE_URL and REDIS_URL (and SECRET_KEY once DEBUG is
# off). collectstatic connects to neither, so dummy values for this one step are enough; they
# are not kept in the image's environment.
RUN DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    DEBUG=0 \
    SECRET_KEY=build-only \
    python manage.py collectstatic --no-input

# The code stays root-owned and read-only to the app user; it writes only uploads/reports under
# /app/media and its home (gunicorn's control socket lives in ~/.gunicorn).
RUN useradd --create-home --uid 10001 --user-group app \
    && mkdir -p /app/media \
    && chown app:app /app/media
# Numeric, so runtimes that enforce "non-root" (e.g. Kubernetes runAsNonRoot) can verify it.
USER 10001:10001

EXPOSE 8000
CMD ["gunicorn", "config.wsgi", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
