"""`python -m notifications <command>` (from 04-services/): this service's manage.py."""

from chassis.manage import main

main("notifications.settings")
