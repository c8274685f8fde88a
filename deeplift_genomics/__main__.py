"""``python -m deeplift_genomics``: the command line.

``python -m`` puts the working directory first on ``sys.path``; it is removed here, so that a model
directory's ``model.json`` naming ``module: somefile:Net`` can never import a file that merely happens to
lie in the directory the command is run from (user modules come only from installed packages or an
explicit ``PYTHONPATH``).
"""

import os
import sys

if sys.path and sys.path[0] in ("", os.getcwd()) and not os.environ.get("PYTHONSAFEPATH"):
    del sys.path[0]

from .cli import main  # noqa: E402

sys.exit(main())
