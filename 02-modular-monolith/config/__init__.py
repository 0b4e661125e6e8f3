"""The Django project of stage 02: settings, root URLs and the WSGI entry point."""
