/* A position-independent CPython 3.14 interpreter for the integration tests:
 * Debian's /usr/bin/python3.14 is linked without PIE (EXEC) with libpython
 * inside it, so this small PIE executable, linked against the forky root's
 * libpython3.14.so, is the PIE-and-shared-libpython variant pystrobe reads
 * (ASLR-biased executable, interpreter in a mapped library).
 * scripts/install-deps.sh builds it into ROOT/usr/local/bin/python3.14-pie. */
#include <Python.h>

int main(int argc, char** argv) { return Py_BytesMain(argc, argv); }
