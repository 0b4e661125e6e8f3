"""`python -m orders <command>` (from 04-services/): the orders service's manage.py."""

from chassis.manage import main

main("orders.settings")
