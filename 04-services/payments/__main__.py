"""`python -m payments <command>` (from 04-services/): the payments service's manage.py."""

from chassis.manage import main

main("payments.settings")
