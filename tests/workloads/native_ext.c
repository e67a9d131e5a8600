/* A C extension for the --native tests (tests/integration/native_test.cc),
 * built by the test with gcc against each interpreter's headers.
 *
 *   burn_c(callback, spin_ns, rounds): `rounds` times, spins `spin_ns` of
 *     this thread's CPU time in C (burn_spin), then calls callback().
 *   hold_c(ready_path, text): writes `text` to ready_path, then spins in C
 *     (hold_spin) forever: a stack that stays put for `dump --native`.
 *   c_cpu_ns(): the CPU time spent in burn_spin so far, measured by the
 *     extension itself (CLOCK_THREAD_CPUTIME_ID): the truth for record.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <time.h>

static long long g_spin_ns;
static volatile unsigned long g_sink;

static long long thread_cpu_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

__attribute__((noinline)) static void burn_spin(long long ns) {
  const long long start = thread_cpu_ns();
  long long now = start;
  while (now - start < ns) {
    for (int i = 0; i < 20000; ++i) g_sink = g_sink * 31 + (unsigned long)i;
    now = thread_cpu_ns();
  }
  g_spin_ns += now - start;
}

__attribute__((noinline)) static void hold_spin(void) {
  for (;;) {
    for (int i = 0; i < 1000000; ++i) g_sink = g_sink * 31 + (unsigned long)i;
  }
}

static PyObject* burn_c(PyObject* self, PyObject* args) {
  PyObject* callback;
  long long spin_ns;
  long rounds;
  (void)self;
  if (!PyArg_ParseTuple(args, "OLl", &callback, &spin_ns, &rounds)) {
    return NULL;
  }
  for (long r = 0; r < rounds; ++r) {
    burn_spin(spin_ns);
    PyObject* result = PyObject_CallObject(callback, NULL);
    if (result == NULL) return NULL;
    Py_DECREF(result);
  }
  Py_RETURN_NONE;
}

static PyObject* hold_c(PyObject* self, PyObject* args) {
  const char* ready;
  const char* text;
  (void)self;
  if (!PyArg_ParseTuple(args, "ss", &ready, &text)) return NULL;
  char tmp[4096];
  snprintf(tmp, sizeof(tmp), "%s.tmp", ready);
  FILE* f = fopen(tmp, "w");
  if (f != NULL) {
    fputs(text, f);
    fclose(f);
    rename(tmp, ready);
  }
  hold_spin();
  Py_RETURN_NONE;
}

static PyObject* c_cpu_ns(PyObject* self, PyObject* args) {
  (void)self;
  (void)args;
  return PyLong_FromLongLong(g_spin_ns);
}

static PyMethodDef kMethods[] = {
    {"burn_c", burn_c, METH_VARARGS, "spin in C, call back, repeat"},
    {"hold_c", hold_c, METH_VARARGS, "spin in C forever"},
    {"c_cpu_ns", c_cpu_ns, METH_NOARGS, "CPU time spent in burn_spin"},
    {NULL, NULL, 0, NULL},
};

#if PY_MAJOR_VERSION >= 3
static struct PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT, "native_ext", NULL, -1, kMethods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit_native_ext(void) { return PyModule_Create(&kModule); }
#else
PyMODINIT_FUNC initnative_ext(void) { Py_InitModule("native_ext", kMethods); }
#endif
