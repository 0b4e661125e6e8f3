"""Settings of the chassis's own tests: a service with no domain of its own."""

from chassis.settings import service_settings

globals().update(service_settings("chassis_tests", apps=[]))
