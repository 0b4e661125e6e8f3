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

# Production settings refuse to start without a secret key of the operator's. Given none
# (SHOP_SECRET_KEY empty) but a file for it (SHOP_SECRET_KEY_FILE, in the stage's secrets
# volume), the release makes one at the stage's first start; every container of the stage
# reads it from there: one key for all of them, kept across restarts. A container started
# before the release made it stops here, with cat's message naming the file.
if [ -z "${SHOP_SECRET_KEY:-}" ] && [ -n "${SHOP_SECRET_KEY_FILE:-}" ]; then
    if [ "$process" = release ] && [ ! -s "$SHOP_SECRET_KEY_FILE" ]; then
        python -c 'import secrets; print(secrets.token_urlsafe(50))' >"$SHOP_SECRET_KEY_FILE.new"
        mv "$SHOP_SECRET_KEY_FILE.new" "$SHOP_SECRET_KEY_FILE" # a rename: never half a key
    fi
    SHOP_SECRET_KEY="$(cat "$SHOP_SECRET_KEY_FILE")"
    export SHOP_SECRET_KEY
fi

# exec: honcho replaces this shell, receives `docker stop`'s SIGTERM and passes it on; it
# exits with the process's exit code, which is how compose knows the release succeeded.
# No prefix: compose already puts the service name in front of every line.
exec honcho start --no-prefix --no-colour "$process"
