import sys

from host_tools.ops.cli import main

sys.exit(main())
