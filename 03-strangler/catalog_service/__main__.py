"""`python -m catalog_service <command>`: the catalog service's manage.py.

Run from the stage folder, e.g. `python -m catalog_service migrate` or `... serve_grpc`.
"""

import os
import sys

from django.core.management import execute_from_command_line


def main() -> None:
    # Set, not setdefault: a shell (or a Procfile runner) that exported the monolith's
    # DJANGO_SETTINGS_MODULE must not make this run the monolith's commands on its database.
    os.environ["DJANGO_SETTINGS_MODULE"] = "catalog_service.settings"
    execute_from_command_line(["python -m catalog_service", *sys.argv[1:]])


if __name__ == "__main__":
    main()
