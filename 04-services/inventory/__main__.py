"""`python -m inventory <command>` (from 04-services/): the inventory service's manage.py."""

from chassis.manage import main

main("inventory.settings")
