"""The Django project of stage 03: settings, root URLs and the WSGI entry point."""
