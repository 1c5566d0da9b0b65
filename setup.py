"""pip install . (offline, with Debian's setuptools): builds descent's Python package with the project's
CMake (DESCENT_WITH_PYTHON) and installs python/descent/ with the compiled _descent beside it.

    python3 -m venv --system-site-packages .venv
    .venv/bin/pip install --no-build-isolation .

--no-build-isolation: pip would otherwise download setuptools into a fresh environment; Debian's
python3-setuptools, python3-wheel and pybind11-dev are used instead. CMAKE_ARGS (environment) adds
arguments to the CMake configuration, e.g. -DCMAKE_CXX_COMPILER_LAUNCHER=ccache.
"""
import os
import pathlib
import shlex
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = pathlib.Path(__file__).resolve().parent


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        target_dir = pathlib.Path(self.get_ext_fullpath(ext.name)).resolve().parent
        build = pathlib.Path(self.build_temp).resolve() / "cmake"
        configure = [
            "cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            "-DDESCENT_WITH_PYTHON=ON", "-DDESCENT_BUILD_TESTS=OFF", "-DDESCENT_BUILD_APPS=OFF",
            "-DDESCENT_BUILD_TOOLS=OFF", "-DDESCENT_BUILD_EXAMPLES=OFF", "-DDESCENT_INSTALL=OFF",
            "-DPython3_EXECUTABLE=" + sys.executable,
        ] + shlex.split(os.environ.get("CMAKE_ARGS", ""))
        subprocess.check_call(configure)
        jobs = str(os.cpu_count() or 1)
        subprocess.check_call(["cmake", "--build", str(build), "--target", "descent_python", "-j", jobs])
        built = list((build / "python" / "descent").glob("_descent*.so"))
        if len(built) != 1:
            raise RuntimeError("the CMake build made %d _descent modules in %s" % (len(built), build))
        target_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], self.get_ext_fullpath(ext.name))


setup(
    name="descent",
    version="0.1.0",
    description="Optimizers for neural networks and function minimization (torch.optim drop-ins, NumPy, SciPy-style)",
    packages=["descent"],
    package_dir={"descent": "python/descent"},
    ext_modules=[Extension("descent._descent", sources=[])],
    cmdclass={"build_ext": CMakeBuild},
    python_requires=">=3.9",
    install_requires=["numpy"],
    zip_safe=False,
)
