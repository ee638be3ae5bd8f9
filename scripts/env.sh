# Sourced by the other scripts (not run): where the build tree and its Python live, and the
# settings every build shares. Everything a test uses is built or installed under $BUILD, so a
# test never depends on what an earlier run left elsewhere on the machine.
#   POLYRPC_BUILD_DIR  the build tree (default: build, relative to the repository)
#   POLYRPC_VENV       the Python virtual environment (default: $BUILD/venv); scripts/bootstrap.sh
#                      creates it from $PYTHON (default python3) and installs the Python
#                      dependencies into it, never into that interpreter itself
POLYRPC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${POLYRPC_BUILD_DIR:-build}
case "$BUILD" in /*) ;; *) BUILD=$POLYRPC_ROOT/$BUILD ;; esac
VENV=${POLYRPC_VENV:-$BUILD/venv}
case "$VENV" in /*) ;; *) VENV=$POLYRPC_ROOT/$VENV ;; esac
VENV_PY=$VENV/bin/python
WHEELHOUSE=$BUILD/wheelhouse

# One compiler cache for the main build and the wheel's own CMake tree (build/python-ext): the
# wheel build compiles the same core sources with the same flags (POLYRPC_SHARED_CMAKE_ARGS),
# so with hash_dir off (the trees' working directories differ and -g records them) those
# compiles are cache hits and the core is compiled once per change, not twice.
export CCACHE_DIR=${CCACHE_DIR:-$BUILD/.ccache}
export CCACHE_NOHASHDIR=1
# The main build's flags, which the test command's wheel build repeats. -Werror sits in the
# per-configuration flags (not in CMAKE_CXX_FLAGS, which CMake's own feature checks also use)
# and is passed this way rather than with POLYRPC_WERROR, which the wheel's CMake tree lacks.
POLYRPC_SHARED_CMAKE_ARGS=(
  -DCMAKE_BUILD_TYPE=RelWithDebInfo
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O2 -g -DNDEBUG -Werror"
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g -DNDEBUG -Werror"
)

export PIP_DISABLE_PIP_VERSION_CHECK=1

# Go: the toolchain scripts/bootstrap.sh fetched when the machine's go is older than 1.26.
if [ -x "$BUILD/tools/go/bin/go" ]; then
  case ":$PATH:" in *":$BUILD/tools/go/bin:"*) ;; *) export PATH=$BUILD/tools/go/bin:$PATH ;; esac
fi

require_venv() {
  if [ ! -x "$VENV_PY" ]; then
    echo "$(basename "$0"): no Python environment at $VENV; run scripts/bootstrap.sh first" >&2
    exit 1
  fi
}
