"""The ``polyrpc`` console script: runs the command-line tool bundled in this package
(``polyrpc/_bin/polyrpc``; docs/cli.md), with the same arguments, and exits with its status.

    polyrpc list localhost:50051
    polyrpc call localhost:50051 helloworld.Greeter/SayHello '{"name": "you"}'
"""

import os
import sys
from typing import Optional, Sequence


def tool_path() -> Optional[str]:
    """The bundled tool, or None if this build of the package has none."""
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_bin",
                        "polyrpc")
    return here if os.access(here, os.X_OK) else None


def main(argv: Optional[Sequence[str]] = None) -> int:
    tool = tool_path()
    if tool is None:
        sys.stderr.write("polyrpc: this build of the package has no command-line tool\n")
        return 65
    args = list(sys.argv[1:] if argv is None else argv)
    sys.stdout.flush()
    os.execv(tool, [tool] + args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
