# One image for every process of Naija-Forum: web (gunicorn, the default CMD), the Celery
# workers, beat and Flower. docker-compose.yml picks the command per service.
FROM python:3.11-slim

# gunicorn reads WEB_CONCURRENCY as its worker count; override it at run time to scale.
# DEBUG=0: the image is production; it starts only once given SECRET_KEY and ALLOWED_HOSTS
# (and Flower FLOWER_BASIC_AUTH), so a forgotten variable stops it instead of exposing it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    WEB_CONCURRENCY=2 \
    DEBUG=0

WORKDIR /app

# Dependencies before the code, so editing code does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings refuse to import without DATABASE_URL, REDIS_URL, a real SECRET_KEY and
# ALLOWED_HOSTS. collectstatic uses none of them, so values for this one step are enough (a
# throwaway random key); they are not kept in the image's environment.
RUN DATABASE_URL=postgres://build@localhost/build \
    REDIS_URL=redis://localhost:6379/0 \
    SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    ALLOWED_HOSTS=build.invalid \
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
