#!/usr/bin/python3
"""The inference core's parity suites against the PyTorch twin (test_transformer, test_gpt, test_vqgan) run
again with the networks on the Vulkan engine: `imagebart logits|encode|decode|sample` get `--backend vulkan`
through a wrapper that IMAGEBART_CLI names, with the same bounds as on the CPU engine. Skipped where no Vulkan
device exists at all (lavapipe counts)."""

import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import parity_util  # noqa: E402

VULKAN_COMMANDS = ("logits", "encode", "decode", "sample")


def vulkan_device_missing(real):
    proc = subprocess.run([real, "devices"], capture_output=True, text=True, timeout=60)
    return proc.returncode != 0 or "No Vulkan device" in proc.stdout


def load_tests(loader, standard_tests, pattern):
    suite = unittest.TestSuite()
    real = parity_util.cli_path()
    if real and os.access(real, os.X_OK) and not vulkan_device_missing(real):
        wrapper_dir = tempfile.mkdtemp(prefix="imagebart-vulkan-parity-")
        wrapper = os.path.join(wrapper_dir, "imagebart-vulkan")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\n"
                    f'case "$1" in {"|".join(VULKAN_COMMANDS)}) exec "{real}" "$@" --backend vulkan ;; esac\n'
                    f'exec "{real}" "$@"\n')
        os.chmod(wrapper, os.stat(wrapper).st_mode | stat.S_IXUSR)
        os.environ["IMAGEBART_CLI"] = wrapper
    else:
        # Without a C tool the suites skip themselves; without a device there is nothing to run.
        reason = "no Vulkan device" if real else "IMAGEBART_CLI is not set"
        suite.addTest(unittest.FunctionTestCase(lambda: (_ for _ in ()).throw(unittest.SkipTest(reason))))
        return suite
    import test_gpt
    import test_transformer
    import test_vqgan
    for module in (test_transformer, test_gpt, test_vqgan):
        suite.addTests(loader.loadTestsFromModule(module))
    return suite


if __name__ == "__main__":
    unittest.main()
