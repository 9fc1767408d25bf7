/* The featurizer's n-gram hashing in C: the same bucket ids as the numpy code in
 * features.py (tests/test_features.py holds both to it), in a few microseconds
 * instead of a few dozen numpy calls of a microsecond or two each.
 *
 * hash_ngrams(text, char_orders, word_unigrams, word_bigrams, shift) -> bytes
 *
 * ``text`` is the normalized text padded with a space at each end; the result
 * is the native-endian int64 bucket ids, in the order features.py documents:
 * the constant feature, char n-grams of each order in ``char_orders`` order,
 * word unigrams, word bigrams. All arithmetic is modulo 2**64.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define P 0x100000001B3ULL
#define MIX 0x9E3779B97F4A7C15ULL
#define WORD_SALT 0xC4CEB9FE1A85EC53ULL
#define BIGRAM 0xFF51AFD7ED558CCDULL
#define MAX_ORDER 16

static int is_word_char(Py_UCS4 c) {
    if (c >= 128) return 1;
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static PyObject *hash_ngrams(PyObject *self, PyObject *args) {
    PyObject *text;
    const char *orders;
    Py_ssize_t n_orders;
    int unigrams, bigrams;
    unsigned int shift;
    if (!PyArg_ParseTuple(args, "Uy#ppI", &text, &orders, &n_orders, &unigrams, &bigrams, &shift))
        return NULL;
    if (shift == 0 || shift > 63) {
        PyErr_SetString(PyExc_ValueError, "shift must be in 1..63");
        return NULL;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);

    /* Upper bound on the output: the constant, every char n-gram, and at most
     * one word (and one bigram) per two characters. */
    Py_ssize_t cap = 1 + len + 1;
    for (Py_ssize_t k = 0; k < n_orders; k++) {
        int n = orders[k];
        if (n < 1 || n > MAX_ORDER) {
            PyErr_SetString(PyExc_ValueError, "char n-gram orders must be in 1..16");
            return NULL;
        }
        if (len >= n) cap += len - n + 1;
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, cap * (Py_ssize_t)sizeof(int64_t));
    if (out == NULL) return NULL;
    uint64_t *ids = (uint64_t *)PyBytes_AS_STRING(out);
    uint64_t *words = PyMem_Malloc((len / 2 + 1) * sizeof(uint64_t));
    if (words == NULL) {
        Py_DECREF(out);
        return PyErr_NoMemory();
    }
    uint64_t pw[MAX_ORDER];
    pw[0] = 1;
    for (int j = 1; j < MAX_ORDER; j++) pw[j] = pw[j - 1] * P;

    Py_ssize_t m = 0;
    ids[m++] = 0; /* the constant feature: (0 * MIX) >> shift */
    for (Py_ssize_t k = 0; k < n_orders; k++) {
        int n = orders[k];
        for (Py_ssize_t i = 0; i + n <= len; i++) {
            uint64_t h = 0;
            for (int j = 0; j < n; j++) h += (uint64_t)PyUnicode_READ(kind, data, i + j) * pw[j];
            ids[m++] = (h * MIX) >> shift;
        }
    }
    Py_ssize_t n_words = 0;
    Py_ssize_t i = 0;
    while (i < len) {
        if (!is_word_char(PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        uint64_t h = 0, p = 1;
        Py_ssize_t start = i;
        for (; i < len && is_word_char(PyUnicode_READ(kind, data, i)); i++) {
            h += (uint64_t)PyUnicode_READ(kind, data, i) * p;
            p *= P;
        }
        words[n_words++] = h + WORD_SALT * (uint64_t)(i - start);
    }
    if (unigrams)
        for (Py_ssize_t w = 0; w < n_words; w++) ids[m++] = (words[w] * MIX) >> shift;
    if (bigrams)
        for (Py_ssize_t w = 1; w < n_words; w++)
            ids[m++] = ((words[w - 1] * BIGRAM + words[w]) * MIX) >> shift;
    PyMem_Free(words);
    if (_PyBytes_Resize(&out, m * (Py_ssize_t)sizeof(int64_t)) < 0) return NULL;
    return out;
}

static PyMethodDef methods[] = {
    {"hash_ngrams", hash_ngrams, METH_VARARGS,
     "hash_ngrams(padded_text, char_orders, word_unigrams, word_bigrams, shift) -> bytes of int64"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "edge_moma.routing._ngrams",
    "The featurizer's n-gram hashing in C (see features.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__ngrams(void) { return PyModule_Create(&module); }
