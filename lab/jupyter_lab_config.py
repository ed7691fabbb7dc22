"""JupyterLab configuration of ``make lab`` (and of tests/test_lab.py).

Everything stays inside the project and its environment: the project folder
is the root; the settings overrides come from this folder (``overrides.json``:
a double click on ``notebooks/NN_name.py`` opens it as a notebook, through
Jupytext); the kernel is the environment's own Python. Nothing is written to
the user's Jupyter configuration.
"""

import json
import logging
import os
import sys
from pathlib import Path

from ipykernel.kernelspec import install as install_kernelspec

HERE = Path(__file__).resolve().parent
KERNEL = "emocirc"

c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file

c.ServerApp.root_dir = str(HERE.parent)
# JupyterLab reads overrides.json from its application settings folder.
c.LabApp.app_settings_dir = str(HERE)
# Inside a container the user is usually root, which Jupyter refuses unless told.
c.ServerApp.allow_root = hasattr(os, "geteuid") and os.geteuid() == 0

# Jupytext gives a chapter (which stores no kernel) the kernel whose command is
# the interpreter running the lab, so register that interpreter in its own
# environment; without it the lab asks for a kernel on every chapter.
spec = Path(sys.prefix, "share", "jupyter", "kernels", KERNEL, "kernel.json")
try:
    if not spec.exists() or json.loads(spec.read_text())["argv"][0] != sys.executable:
        install_kernelspec(prefix=sys.prefix, kernel_name=KERNEL, display_name=f"Python ({KERNEL})")
    c.MappingKernelManager.default_kernel_name = KERNEL
except (OSError, ValueError, KeyError, IndexError) as err:
    logging.getLogger(__name__).warning("could not register the %s kernel in %s: %s", KERNEL, sys.prefix, err)

# The lab's terminal finds the environment's commands (python, papermill, emocirc) first.
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
