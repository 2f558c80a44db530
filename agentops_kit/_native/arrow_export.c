/* The Arrow C data interface (https://arrow.apache.org/docs/format/CDataInterface.html) and its PyCapsule
 * protocol (https://arrow.apache.org/docs/format/CDataInterface/PyCapsuleInterface.html): polars imports
 * such a column without a copy of the data and without pyarrow. */
#include "arrow_export.h"

#include <stdlib.h>
#include <string.h>

#define ARROW_FLAG_NULLABLE 2

struct ArrowSchema {
    const char *format;
    const char *name;
    const char *metadata;
    int64_t flags;
    int64_t n_children;
    struct ArrowSchema **children;
    struct ArrowSchema *dictionary;
    void (*release)(struct ArrowSchema *);
    void *private_data;
};

struct ArrowArray {
    int64_t length;
    int64_t null_count;
    int64_t offset;
    int64_t n_buffers;
    int64_t n_children;
    const void **buffers;
    struct ArrowArray **children;
    struct ArrowArray *dictionary;
    void (*release)(struct ArrowArray *);
    void *private_data;
};

typedef struct { const void *buffers[3]; } Owned; /* what an exported array frees when released */

static void schema_release(struct ArrowSchema *schema) {
    free((char *)schema->name);
    schema->release = NULL;
}

static void array_release(struct ArrowArray *array) {
    Owned *owned = array->private_data;
    for (int i = 0; i < 3; i++) free((void *)owned->buffers[i]);
    free(owned);
    array->release = NULL;
}

/* A capsule not consumed (or consumed by moving, which leaves release NULL) frees what is left. */
static void schema_capsule_free(PyObject *capsule) {
    struct ArrowSchema *schema = PyCapsule_GetPointer(capsule, "arrow_schema");
    if (!schema) { PyErr_Clear(); return; }
    if (schema->release) schema->release(schema);
    free(schema);
}

static void array_capsule_free(PyObject *capsule) {
    struct ArrowArray *array = PyCapsule_GetPointer(capsule, "arrow_array");
    if (!array) { PyErr_Clear(); return; }
    if (array->release) array->release(array);
    free(array);
}

static void *copy_of(const void *src, size_t len) {
    void *p = malloc(len ? len : 1); /* never NULL for an empty buffer: importers may read its address */
    if (p && len) memcpy(p, src, len);
    return p;
}

PyObject *arrow_column(const char *format, const char *name, int64_t length, const void *validity,
                       size_t validity_len, const void *offsets, size_t offsets_len, const void *data,
                       size_t data_len) {
    struct ArrowSchema *schema = calloc(1, sizeof *schema);
    struct ArrowArray *array = calloc(1, sizeof *array);
    Owned *owned = calloc(1, sizeof *owned);
    char *name_copy = schema ? malloc(strlen(name) + 1) : NULL;
    int n = 0;
    if (owned) {
        owned->buffers[n++] = copy_of(validity, validity_len);
        if (offsets) owned->buffers[n++] = copy_of(offsets, offsets_len);
        owned->buffers[n++] = copy_of(data, data_len);
    }
    int ok = schema && array && owned && name_copy;
    for (int i = 0; ok && i < n; i++) ok = owned->buffers[i] != NULL;
    if (!ok) {
        if (owned) for (int i = 0; i < n; i++) free((void *)owned->buffers[i]);
        free(owned);
        free(name_copy);
        free(schema);
        free(array);
        return PyErr_NoMemory();
    }
    strcpy(name_copy, name);
    schema->format = format;
    schema->name = name_copy;
    schema->flags = ARROW_FLAG_NULLABLE;
    schema->release = schema_release;
    array->length = length;
    array->null_count = -1; /* not counted here: the importer counts if it needs to */
    array->n_buffers = n;
    array->buffers = owned->buffers;
    array->private_data = owned;
    array->release = array_release;
    PyObject *schema_capsule = PyCapsule_New(schema, "arrow_schema", schema_capsule_free);
    if (!schema_capsule) {
        schema->release(schema);
        free(schema);
        array->release(array);
        free(array);
        return NULL;
    }
    PyObject *array_capsule = PyCapsule_New(array, "arrow_array", array_capsule_free);
    if (!array_capsule) {
        Py_DECREF(schema_capsule);
        array->release(array);
        free(array);
        return NULL;
    }
    return Py_BuildValue("(NN)", schema_capsule, array_capsule);
}
