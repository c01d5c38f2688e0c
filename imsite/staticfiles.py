"""/static/ served by the server itself (there is no web server in front of Daphne)."""

from __future__ import annotations

import os

from whitenoise.middleware import WhiteNoiseMiddleware


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, serving the apps' static folders in place (WHITENOISE_USE_FINDERS),
    and STATIC_ROOT only once `collectstatic` has made it: without that folder
    WhiteNoise would warn at every start about a folder nobody needs."""

    def add_files(self, root, prefix=None):
        if os.path.isdir(root):
            super().add_files(root, prefix)
