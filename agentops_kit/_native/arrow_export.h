/* One column handed to Python through the Arrow C data interface (as PyCapsules), without pyarrow. */
#ifndef AGENTOPS_ARROW_EXPORT_H
#define AGENTOPS_ARROW_EXPORT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

/* (schema capsule, array capsule) of a nullable column, as `__arrow_c_array__` returns them. format is
 * an Arrow format string ("U" large utf8, "l" int64, "g" float64); the buffers are copied. offsets is
 * NULL for fixed-width types. */
PyObject *arrow_column(const char *format, const char *name, int64_t length, const void *validity,
                       size_t validity_len, const void *offsets, size_t offsets_len, const void *data,
                       size_t data_len);

#endif
