import sys

from host_tools.collector.cli import main

sys.exit(main())
