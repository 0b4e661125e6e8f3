"""`python -m catalog <command>` (from 04-services/): the catalog service's manage.py."""

from chassis.manage import main

main("catalog.settings")
