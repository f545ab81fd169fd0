# KTRDR post-start step, run by kinfra inside the backend container with `sh -c`.
# Database migrations: the backend image has alembic in its virtualenv.
set -e
cd /app
if [ ! -x /app/.venv/bin/alembic ]; then
  echo "alembic not found at /app/.venv/bin/alembic in the backend image" >&2
  exit 127
fi
exec /app/.venv/bin/alembic upgrade head
