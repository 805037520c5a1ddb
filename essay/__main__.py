import sys

from essay.cli import main

sys.exit(main())
