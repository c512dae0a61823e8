"""Command-line access to the throw-away Samba AD DC: `python scripts/samba_dc.py up DIR`.

The code lives in smartsync_tui/testbed/samba_dc.py so the demo can use it
from an installed package too.
"""

import sys

from smartsync_tui.testbed.samba_dc import main

if __name__ == "__main__":
    sys.exit(main())
