"""Offline stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test creates each sanity virtualenv without pip and then runs a get-pip script that it fetches
from ci-files.testing.ansible.com, a host this project's machines cannot reach (only PyPI is). Its
documented workaround is to pre-seed ~/.ansible/test/cache/get_pip_<version>.py; scripts/sanity.sh
copies this file there. It accepts the same arguments as get-pip (pip install arguments plus
--no-setuptools/--no-wheel), installs the interpreter's bundled pip with ensurepip, then lets that pip
install the exact requested packages (e.g. pip==24.2) from PyPI.
"""

# speechops-edge-get-pip-stand-in (marker: scripts/sanity.sh only replaces files carrying it)

from __future__ import annotations

import subprocess
import sys


def main() -> int:
    """Bootstrap pip into the running (empty) virtualenv."""
    drop = {"--no-setuptools", "--no-wheel"}
    args = [arg for arg in sys.argv[1:] if arg not in drop]
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
    # Python 3.11's ensurepip also installs setuptools; the real bootstrap honours --no-setuptools.
    if "--no-setuptools" in sys.argv[1:]:
        subprocess.call(
            [sys.executable, "-m", "pip", "uninstall", "--yes", "--quiet", "setuptools"], stdout=subprocess.DEVNULL
        )
    return subprocess.call([sys.executable, "-m", "pip", "install", *args])


if __name__ == "__main__":
    sys.exit(main())
