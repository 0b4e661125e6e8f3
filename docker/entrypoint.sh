#!/bin/sh
# The entrypoint of every stage's image: run one process of the stage's Procfile, by name
# (`entrypoint.sh web`), with honcho, as `make run` does. Compose names processes, never
# commands, so it cannot drift from the Procfile.
set -eu
process="${1:?usage: entrypoint.sh PROCESS, a name from the Procfile}"

# Before the release (migrate, seed), create the stage's database when it is missing, as
# `make run` does: the stages share one PostgreSQL, and a data volume made before a stage
# existed has no database for it, so an init script of the postgres image would not do.
if [ "$process" = release ] && [ -n "${DATABASE_URL:-}" ]; then
    python -c 'import os; from shopctl.env import ensure_database; ensure_database(os.environ["DATABASE_URL"])'
fi

# exec: honcho replaces this shell, receives `docker stop`'s SIGTERM and passes it on; it
# exits with the process's exit code, which is how compose knows the release succeeded.
# No prefix: compose already puts the service name in front of every line.
exec honcho start --no-prefix --no-colour "$process"
