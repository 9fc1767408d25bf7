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
 *
 * hash_ascii(text, char_orders, word_unigrams, word_bigrams, shift, max_chars)
 *     -> bytes | None
 *
 * The same ids for a raw ASCII text: text rules 1 and 2 (features.normalize)
 * and the padding are applied here, which saves the Python string work
 * (a third of a featurization). None for a non-ASCII text, whose NFKC and
 * Unicode whitespace stay in Python.
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

/* The ids of a normalized, padded text of ``len`` code points (see the top). */
static PyObject *hash_core(int kind, const void *data, Py_ssize_t len, const char *orders,
                           Py_ssize_t n_orders, int unigrams, int bigrams, unsigned int shift) {
    if (shift == 0 || shift > 63) {
        PyErr_SetString(PyExc_ValueError, "shift must be in 1..63");
        return NULL;
    }
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

static PyObject *hash_ngrams(PyObject *self, PyObject *args) {
    PyObject *text;
    const char *orders;
    Py_ssize_t n_orders;
    int unigrams, bigrams;
    unsigned int shift;
    if (!PyArg_ParseTuple(args, "Uy#ppI", &text, &orders, &n_orders, &unigrams, &bigrams, &shift))
        return NULL;
    return hash_core(PyUnicode_KIND(text), PyUnicode_DATA(text), PyUnicode_GET_LENGTH(text),
                     orders, n_orders, unigrams, bigrams, shift);
}

/* str.split()'s whitespace among ASCII code points (it includes \x1c-\x1f). */
static int is_space(unsigned char c) {
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

static PyObject *hash_ascii(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_ssize_t max_chars;
    const char *orders;
    Py_ssize_t n_orders;
    int unigrams, bigrams;
    unsigned int shift;
    if (!PyArg_ParseTuple(args, "Uy#ppIn", &text, &orders, &n_orders, &unigrams, &bigrams,
                          &shift, &max_chars))
        return NULL;
    /* max_chars < 2 makes Python's text[-0:] mean the whole text: left to Python. */
    if (!PyUnicode_IS_ASCII(text) || max_chars < 2 || max_chars > PY_SSIZE_T_MAX / 8)
        Py_RETURN_NONE;
    const unsigned char *src = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t len = PyUnicode_GET_LENGTH(text);
    /* Rule 2's bound on huge inputs: the first and last 2 * max_chars, joined by a space. */
    Py_ssize_t head = len, tail_start = len;
    if (len > 4 * max_chars) {
        head = 2 * max_chars;
        tail_start = len - 2 * max_chars;
    }
    Py_ssize_t n_in = head + (tail_start < len ? 1 + (len - tail_start) : 0);
    unsigned char *buf = PyMem_Malloc(n_in + 3);
    if (buf == NULL) return PyErr_NoMemory();
    /* Rule 1 for ASCII: lower case, whitespace runs to one space, none at the ends;
     * written after a leading pad space at buf[0]. */
    Py_ssize_t n = 0;
    int pending_space = 0;
    for (Py_ssize_t k = 0; k < n_in; k++) {
        unsigned char c;
        if (k < head)
            c = src[k];
        else if (k == head)
            c = ' ';
        else
            c = src[tail_start + (k - head - 1)];
        if (is_space(c)) {
            pending_space = n > 0;
            continue;
        }
        if (pending_space) buf[1 + n++] = ' ';
        pending_space = 0;
        buf[1 + n++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
    }
    /* Rule 2: longer than max_chars keeps the first and last max_chars // 2. */
    if (n > max_chars) {
        Py_ssize_t half = max_chars / 2;
        buf[1 + half] = ' ';
        memmove(buf + 2 + half, buf + 1 + n - half, half);
        n = 2 * half + 1;
    }
    buf[0] = ' ';
    buf[1 + n] = ' ';
    PyObject *out =
        hash_core(PyUnicode_1BYTE_KIND, buf, n + 2, orders, n_orders, unigrams, bigrams, shift);
    PyMem_Free(buf);
    return out;
}

static PyMethodDef methods[] = {
    {"hash_ngrams", hash_ngrams, METH_VARARGS,
     "hash_ngrams(padded_text, char_orders, word_unigrams, word_bigrams, shift) -> bytes of int64"},
    {"hash_ascii", hash_ascii, METH_VARARGS,
     "hash_ascii(text, char_orders, word_unigrams, word_bigrams, shift, max_chars) -> bytes or "
     "None: hash_ngrams of the normalized, padded text, for ASCII text only"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "edge_moma.routing._ngrams",
    "The featurizer's n-gram hashing in C (see features.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__ngrams(void) { return PyModule_Create(&module); }
