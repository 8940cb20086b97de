"""``python -m nacos.auto.server`` is ``nacos-serving server``."""

import sys

from nacos.auto.cli import main

sys.exit(main(["server", *sys.argv[1:]]))
