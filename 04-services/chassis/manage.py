"""`python -m <service> <command>`: each service's manage.py, in one function.

Run from the stage folder (04-services/), so that `chassis` and the service import as
top-level packages, as they do under gunicorn and in the Procfile.
"""

import os
import sys


def main(settings_module: str) -> None:
    # Set, not setdefault: a DJANGO_SETTINGS_MODULE exported for another service (or stage)
    # must not slip in.
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    from django.core.management import execute_from_command_line

    execute_from_command_line([f"python -m {settings_module.split('.')[0]}", *sys.argv[1:]])
