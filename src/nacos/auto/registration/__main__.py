"""``python -m nacos.auto.registration``: see :mod:`nacos.auto.registration.launcher`."""

import sys

from nacos.auto.registration.launcher import main

sys.exit(main())
