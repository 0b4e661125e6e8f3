"""The notifications service's settings: the chassis's, plus where its emails go.

Emails are files a learner can open, in $SHOP_VAR_DIR/emails/, as at stages 01-03;
SHOP_EMAIL_BACKEND picks another Django email backend (the tests print them instead).
"""

import os

from chassis.settings import service_settings, var_dir

globals().update(service_settings("notifications", apps=["notifications"], grpc_servicers=None))

EMAIL_BACKEND = os.environ.get(
    "SHOP_EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend"
)
EMAIL_FILE_PATH = var_dir() / "emails"
DEFAULT_FROM_EMAIL = "shop@example.com"
