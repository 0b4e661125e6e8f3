"""`python -m gateway <command>` (from 04-services/): the gateway's manage.py."""

from chassis.manage import main

main("gateway.settings")
