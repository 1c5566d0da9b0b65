# The package under test is the one in the build tree: ctest sets PYTHONPATH=<build>/python.
import os
import sys

import pytest

import descent


def pytest_report_header(config):
    return "descent from %s" % os.path.dirname(descent.__file__)
