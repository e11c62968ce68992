# Production image: web (gunicorn), worker and beat all run from it, as the unprivileged user "app".
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    EMBEDDING_MODEL_CACHE=/app/model-cache \
    STATIC_ROOT=/app/staticfiles \
    MEDIA_ROOT=/app/media

RUN useradd --create-home --uid 1000 app
WORKDIR /app

# The runtime dependencies only: tests, lint and benchmark tools are in requirements-dev.txt.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .
# The embedding model is converted to TensorFlow Lite here, once, into EMBEDDING_MODEL_CACHE
# (about 30 s): the app user can read it but not write under /app, and a worker that had to
# convert it at its first embedding failed every product with PermissionError.
# collectstatic needs settings to import; these values exist only for this build step.
RUN python -c "import os; from pathlib import Path; from recommendations.embeddings import lite0_tflite_path; \
print(lite0_tflite_path(Path(os.environ['EMBEDDING_MODEL_CACHE'])))" \
    && SECRET_KEY=build-only ALLOWED_HOSTS=localhost DATABASE_URL=postgres://build@localhost/build \
       REDIS_URL=redis://localhost:6379/0 python manage.py collectstatic --no-input \
    && mkdir -p /app/media && chown -R app:app /app/media

USER app
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2", "--threads", "4", "--timeout", "60", "--no-control-socket"]
