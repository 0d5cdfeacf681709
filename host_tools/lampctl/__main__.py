import sys

from host_tools.lampctl.cli import main

sys.exit(main())
