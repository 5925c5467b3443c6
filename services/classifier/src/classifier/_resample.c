/* Pillow-exact antialiased resize of packed RGB bytes, several times faster on x86-64.
 *
 * Preprocessing resizes every photo with Pillow's bicubic (or bilinear) filter, and the model's
 * answers are defined by those pixels. This module computes the same pixels, bit for bit: the
 * same coefficients (double precision, normalised, rounded to 22-bit fixed point), the same
 * integer accumulation and rounding, the same intermediate 8-bit image, the same order of the
 * two passes. tests/test_resample.py holds it to Pillow's output on photos and random inputs.
 *
 * What differs is how the horizontal pass is computed (where the time goes when a camera photo
 * is reduced ~5x: ~23 taps per output pixel). With AVX2 and FMA it runs in float32, exactly:
 * each weight is split as w = hi * 2^11 + lo (0 <= lo < 2^11), so every product and partial sum
 * is an integer below 2^24, which float32 represents exactly; the two sums are recombined in
 * int32. Without AVX2 it falls back to the plain integer loop.
 *
 * The arithmetic follows Pillow's src/libImaging/Resample.c (HPND licence), which defines the
 * pixels; pin Pillow's major version with this file (tests fail if the two ever disagree).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_AVX2_PATH 1
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS 22 /* fraction bits of a fixed-point weight, as Pillow's 8-bit path */
#define SPLIT_BITS 11     /* w = hi << SPLIT_BITS | lo, for the exact float32 horizontal pass */
#define HALF (1 << (PRECISION_BITS - 1))

/* Limits, checked once per call so that nothing below can overflow or read outside a buffer
 * (the service's pixel limit keeps real images far inside them):
 * - a side, input or output, is at most 2^28 pixels: every index, offset and tap count is then
 *   an int well below 2^31 (3 bytes or 4 floats a pixel), and every byte count a Py_ssize_t;
 * - a kernel holds at most INT_MAX / sizeof(double) weights (outputs x taps), Pillow's own limit
 *   (precompute_coeffs), so whatever Pillow computes, this computes too;
 * - the AVX2 pass widens each weight to 8 floats, so kernels past 2^20 weights (a whole long row
 *   reduced to a few pixels) take the portable loop instead of gigabytes of tables. */
#define MAX_SIDE (1 << 28)
#define MAX_KERNEL (INT_MAX / (int)sizeof(double))
#define MAX_AVX2_KERNEL (1 << 20)

typedef double (*filter_fn)(double);

static double bilinear_filter(double x) {
    x = fabs(x);
    return x < 1.0 ? 1.0 - x : 0.0;
}

static double bicubic_filter(double x) { /* a = -0.5 */
    x = fabs(x);
    if (x < 1.0) return (1.5 * x - 2.5) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * -0.5;
    return 0.0;
}

/* For each output sample: the first input sample it reads, how many, and their weights. */
typedef struct {
    int taps; /* stride of `weights`: the most inputs any output reads */
    int *first;
    int *count;
    int32_t *weights;
} Kernel;

static void kernel_free(Kernel *k) {
    free(k->first);
    free(k->count);
    free(k->weights);
}

/* The box arrives as float32 and its width is computed in float32, as in Pillow. */
static double kernel_scale(float in0, float in1, int out_size) { return (double)(in1 - in0) / out_size; }

/* Inputs one output may read; a double, so resize() can check it before it becomes an int. */
static double kernel_taps(float in0, float in1, int out_size, double filter_support) {
    const double scale = kernel_scale(in0, in1, out_size);
    return ceil(filter_support * (scale < 1.0 ? 1.0 : scale)) * 2 + 1;
}

static int kernel_make(Kernel *k, int in_size, float in0, float in1, int out_size, filter_fn filter,
                       double filter_support) {
    double scale = kernel_scale(in0, in1, out_size);
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = filter_support * filterscale;
    double *w;
    int xx, x;
    k->taps = (int)kernel_taps(in0, in1, out_size, filter_support);
    k->first = malloc(sizeof(int) * out_size);
    k->count = malloc(sizeof(int) * out_size);
    k->weights = calloc((size_t)out_size * k->taps, sizeof(int32_t));
    w = malloc(sizeof(double) * k->taps);
    if (!k->first || !k->count || !k->weights || !w) {
        free(w);
        kernel_free(k);
        return 0;
    }
    for (xx = 0; xx < out_size; xx++) {
        double center = in0 + (xx + 0.5) * scale, total = 0.0;
        int lo = (int)(center - support + 0.5), hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        if (lo > hi) lo = hi; /* never a negative count (a box past the image; resize() refuses it) */
        for (x = 0; x < hi - lo; x++) {
            w[x] = filter((x + lo - center + 0.5) * (1.0 / filterscale));
            total += w[x];
        }
        for (x = 0; x < hi - lo; x++) {
            double v = total != 0.0 ? w[x] / total : w[x];
            k->weights[(size_t)xx * k->taps + x] =
                (int32_t)(v < 0 ? -0.5 + v * (1 << PRECISION_BITS) : 0.5 + v * (1 << PRECISION_BITS));
        }
        k->first[xx] = lo;
        k->count[xx] = hi - lo;
    }
    free(w);
    return 1;
}

static inline uint8_t clip8(int32_t sum) {
    sum >>= PRECISION_BITS;
    return sum < 0 ? 0 : sum > 255 ? 255 : (uint8_t)sum;
}

/* ------------------------------------------------------------------ vertical pass */

/* dst row yy = weighted sum of src rows; contiguous along the row, so the compiler vectorises. */
static int vertical(const uint8_t *src, Py_ssize_t src_stride, int row_bytes, const Kernel *k,
                    int first_row, int out_height, uint8_t *dst) {
    int32_t *acc = malloc(sizeof(int32_t) * row_bytes);
    int yy, y, j;
    if (!acc) return 0;
    for (yy = 0; yy < out_height; yy++) {
        const int32_t *w = k->weights + (size_t)yy * k->taps;
        for (j = 0; j < row_bytes; j++) acc[j] = HALF;
        for (y = 0; y < k->count[yy]; y++) {
            const uint8_t *in = src + (Py_ssize_t)(k->first[yy] - first_row + y) * src_stride;
            const int32_t weight = w[y];
            for (j = 0; j < row_bytes; j++) acc[j] += in[j] * weight;
        }
        for (j = 0; j < row_bytes; j++) dst[(size_t)yy * row_bytes + j] = clip8(acc[j]);
    }
    free(acc);
    return 1;
}

/* ------------------------------------------------------------------ horizontal pass */

/* Portable: Pillow's integer loop. `src` rows start at input column 0. */
static int horizontal_scalar(const uint8_t *src, Py_ssize_t src_stride, int rows, const Kernel *k,
                             int out_width, uint8_t *dst) {
    int y, xx, x;
    for (y = 0; y < rows; y++) {
        const uint8_t *row = src + y * src_stride;
        uint8_t *out = dst + (size_t)y * out_width * 3;
        for (xx = 0; xx < out_width; xx++) {
            const uint8_t *in = row + (size_t)k->first[xx] * 3;
            const int32_t *w = k->weights + (size_t)xx * k->taps;
            int32_t s0 = HALF, s1 = HALF, s2 = HALF;
            for (x = 0; x < k->count[xx]; x++) {
                s0 += in[x * 3 + 0] * w[x];
                s1 += in[x * 3 + 1] * w[x];
                s2 += in[x * 3 + 2] * w[x];
            }
            out[xx * 3 + 0] = clip8(s0);
            out[xx * 3 + 1] = clip8(s1);
            out[xx * 3 + 2] = clip8(s2);
        }
    }
    return 1;
}

#ifdef HAVE_AVX2_PATH
/* AVX2 + FMA: one output pixel is two 8-lane FMAs per pair of taps, lanes = 2 taps x (R, G, B, -).
 * A lane sums at most CHUNK / 8 products in float32, each below 2^8 * 2^11, so its sum stays
 * below 2^24 and exact however wide the kernel; chunks are then summed in int32. */
#define CHUNK 64 /* floats: 16 taps */
__attribute__((target("avx2,fma"))) static int horizontal_avx2(const uint8_t *src,
                                                                Py_ssize_t src_stride, int rows,
                                                                const Kernel *k, int out_width,
                                                                uint8_t *dst) {
    const int taps = (k->taps + 1) & ~1; /* whole pairs */
    const int first = k->first[0];
    const int used = k->first[out_width - 1] + k->count[out_width - 1] - first;
    float *hi = calloc((size_t)out_width * taps * 4, sizeof(float));
    float *lo = calloc((size_t)out_width * taps * 4, sizeof(float));
    float *row = calloc((size_t)(used + taps) * 4, sizeof(float)); /* zero tail for padded taps */
    const __m128i spread = _mm_setr_epi8(0, 1, 2, -1, 3, 4, 5, -1, 6, 7, 8, -1, 9, 10, 11, -1);
    int xx, x, y, c, j;
    if (!hi || !lo || !row) {
        free(hi);
        free(lo);
        free(row);
        return 0;
    }
    for (xx = 0; xx < out_width; xx++)
        for (x = 0; x < k->count[xx]; x++) {
            const int32_t w = k->weights[(size_t)xx * k->taps + x];
            for (c = 0; c < 3; c++) {
                hi[((size_t)xx * taps + x) * 4 + c] = (float)(w >> SPLIT_BITS);
                lo[((size_t)xx * taps + x) * 4 + c] = (float)(w & ((1 << SPLIT_BITS) - 1));
            }
        }
    for (y = 0; y < rows; y++) {
        const uint8_t *in = src + y * src_stride + (size_t)first * 3;
        uint8_t *out = dst + (size_t)y * out_width * 3;
        /* RGB bytes -> (R, G, B, 0) floats, four pixels per 16-byte load while it stays in the row. */
        for (x = 0; x * 3 + 16 <= used * 3; x += 4) {
            const __m128i rgbx = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(in + x * 3)), spread);
            _mm256_storeu_ps(row + x * 4, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(rgbx)));
            _mm256_storeu_ps(row + x * 4 + 8, _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(rgbx, 8))));
        }
        for (; x < used; x++)
            for (c = 0; c < 3; c++) row[x * 4 + c] = (float)in[x * 3 + c];
        for (xx = 0; xx < out_width; xx++) {
            const float *px = row + (size_t)(k->first[xx] - first) * 4;
            const float *wh = hi + (size_t)xx * taps * 4, *wl = lo + (size_t)xx * taps * 4;
            __m256i sum_hi = _mm256_setzero_si256(), sum_lo = _mm256_setzero_si256();
            __m128i total;
            uint32_t rgb;
            for (x = 0; x < taps * 4; x += CHUNK) {
                const int end = x + CHUNK < taps * 4 ? x + CHUNK : taps * 4;
                __m256 chunk_hi = _mm256_setzero_ps(), chunk_lo = _mm256_setzero_ps();
                for (j = x; j < end; j += 8) {
                    const __m256 p = _mm256_loadu_ps(px + j);
                    chunk_hi = _mm256_fmadd_ps(p, _mm256_loadu_ps(wh + j), chunk_hi);
                    chunk_lo = _mm256_fmadd_ps(p, _mm256_loadu_ps(wl + j), chunk_lo);
                }
                sum_hi = _mm256_add_epi32(sum_hi, _mm256_cvtps_epi32(chunk_hi));
                sum_lo = _mm256_add_epi32(sum_lo, _mm256_cvtps_epi32(chunk_lo));
            }
            /* (hi << 11) + lo, modulo 2^32 like any int32 sum: exact, as Pillow's total fits. */
            total = _mm_add_epi32(
                _mm_slli_epi32(_mm_add_epi32(_mm256_castsi256_si128(sum_hi), _mm256_extracti128_si256(sum_hi, 1)),
                               SPLIT_BITS),
                _mm_add_epi32(_mm256_castsi256_si128(sum_lo), _mm256_extracti128_si256(sum_lo, 1)));
            total = _mm_srai_epi32(_mm_add_epi32(total, _mm_set1_epi32(HALF)), PRECISION_BITS);
            total = _mm_packus_epi16(_mm_packs_epi32(total, total), total); /* clamp to 0..255 */
            rgb = (uint32_t)_mm_cvtsi128_si32(total);
            out[xx * 3 + 0] = (uint8_t)rgb;
            out[xx * 3 + 1] = (uint8_t)(rgb >> 8);
            out[xx * 3 + 2] = (uint8_t)(rgb >> 16);
        }
    }
    free(hi);
    free(lo);
    free(row);
    return 1;
}
#endif

typedef int (*horizontal_fn)(const uint8_t *, Py_ssize_t, int, const Kernel *, int, uint8_t *);

static int has_avx2_fma; /* set once at import */
#ifdef HAVE_AVX2_PATH
#define HORIZONTAL_FAST horizontal_avx2
#else
#define HORIZONTAL_FAST horizontal_scalar /* other architectures: the portable loop */
#endif

/* ------------------------------------------------------------------ both passes */

/* Pillow 13 runs the vertical pass first when the height shrinks much more than the width. */
static int vertical_first(int width, int height, int out_width, int out_height) {
    return out_height < height && (height - out_height) > (width - out_width) * 2;
}

static int resample(const uint8_t *src, int width, int height, const float box[4], int out_width,
                    int out_height, filter_fn filter, double support, horizontal_fn horizontal,
                    uint8_t *dst) {
    Kernel kx = {0}, ky = {0};
    uint8_t *tmp = NULL;
    int ok = 0;
    const Py_ssize_t stride = (Py_ssize_t)width * 3;
    if (!kernel_make(&ky, height, box[1], box[3], out_height, filter, support)) goto done;
    if (!kernel_make(&kx, width, box[0], box[2], out_width, filter, support)) goto done;
    if (vertical_first(width, height, out_width, out_height)) {
        /* Only the columns the horizontal pass reads: the others are never used. */
        const int first_col = kx.first[0];
        const int cols = kx.first[out_width - 1] + kx.count[out_width - 1] - first_col;
        tmp = malloc((size_t)out_height * cols * 3);
        if (!tmp) goto done;
        ok = vertical(src + (size_t)first_col * 3, stride, cols * 3, &ky, 0, out_height, tmp);
        for (int xx = 0; ok && xx < out_width; xx++) kx.first[xx] -= first_col;
        ok = ok && horizontal(tmp, (Py_ssize_t)cols * 3, out_height, &kx, out_width, dst);
    } else {
        const int first_row = ky.first[0];
        const int rows = ky.first[out_height - 1] + ky.count[out_height - 1] - first_row;
        tmp = malloc((size_t)rows * out_width * 3);
        if (!tmp) goto done;
        ok = horizontal(src + first_row * stride, stride, rows, &kx, out_width, tmp) &&
             vertical(tmp, (Py_ssize_t)out_width * 3, out_width * 3, &ky, first_row, out_height, dst);
    }
done:
    free(tmp);
    kernel_free(&kx);
    kernel_free(&ky);
    return ok;
}

/* ------------------------------------------------------------------ Python */

PyDoc_STRVAR(resize_doc,
             "resize(pixels, width, height, box, out_width, out_height, filter, vectorised=True)\n"
             "-> bytes\n\n"
             "Resize the `box` (left, top, right, bottom) of `width` x `height` packed RGB bytes\n"
             "to `out_width` x `out_height` with 'bicubic' or 'bilinear', exactly as Pillow's\n"
             "Image.resize(size, filter, box=box). `vectorised=False` forces the portable loop\n"
             "(for tests); it is used anyway where the CPU lacks AVX2 and FMA. Releases the GIL.\n"
             "ValueError for sides past 2^28 pixels, a box outside the image or empty, or a kernel\n"
             "past Pillow's limit (see MAX_SIDE and MAX_KERNEL in _resample.c).");

static PyObject *resize(PyObject *self, PyObject *args) {
    Py_buffer pixels;
    Py_ssize_t width, height, out_width, out_height;
    int vectorised = 1, ok;
    float box[4];
    const char *name;
    filter_fn filter;
    double support, weights_x;
    horizontal_fn horizontal;
    PyObject *result = NULL;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nn(ffff)nns|p", &pixels, &width, &height, &box[0], &box[1],
                          &box[2], &box[3], &out_width, &out_height, &name, &vectorised))
        return NULL;
    if (strcmp(name, "bicubic") == 0) {
        filter = bicubic_filter;
        support = 2.0;
    } else if (strcmp(name, "bilinear") == 0) {
        filter = bilinear_filter;
        support = 1.0;
    } else {
        PyErr_Format(PyExc_ValueError, "unknown filter '%s': use 'bicubic' or 'bilinear'", name);
        goto done;
    }
    if (width < 1 || height < 1 || out_width < 1 || out_height < 1 || width > MAX_SIDE ||
        height > MAX_SIDE || out_width > MAX_SIDE || out_height > MAX_SIDE) {
        PyErr_Format(PyExc_ValueError,
                     "sizes must be positive and at most %d pixels a side; got %zd x %zd -> %zd x %zd",
                     MAX_SIDE, width, height, out_width, out_height);
        goto done;
    }
    /* In double: a float32 comparison rounds the width too (2^25 + 6 becomes 2^25 + 8), letting
     * a box end past the image. NaN fails every comparison. */
    if (!((double)box[0] >= 0 && (double)box[1] >= 0 && (double)box[2] <= (double)width &&
          (double)box[3] <= (double)height && box[0] < box[2] && box[1] < box[3])) {
        PyErr_SetString(PyExc_ValueError, "box must lie inside the image and have a positive area");
        goto done;
    }
    weights_x = (double)out_width * kernel_taps(box[0], box[2], (int)out_width, support);
    if (weights_x > MAX_KERNEL ||
        (double)out_height * kernel_taps(box[1], box[3], (int)out_height, support) > MAX_KERNEL) {
        PyErr_Format(PyExc_ValueError,
                     "the box shrinks too much: its kernel needs more than %d weights (outputs x taps)",
                     MAX_KERNEL);
        goto done;
    }
    if (pixels.len != width * height * 3) {
        PyErr_SetString(PyExc_ValueError, "pixels must be width x height x 3 bytes");
        goto done;
    }
    horizontal = vectorised && has_avx2_fma && weights_x <= MAX_AVX2_KERNEL ? HORIZONTAL_FAST
                                                                            : horizontal_scalar;
    result = PyBytes_FromStringAndSize(NULL, out_width * out_height * 3);
    if (!result) goto done;
    Py_BEGIN_ALLOW_THREADS
    ok = resample(pixels.buf, (int)width, (int)height, box, (int)out_width, (int)out_height, filter,
                  support, horizontal, (uint8_t *)PyBytes_AS_STRING(result));
    Py_END_ALLOW_THREADS
    if (!ok) {
        Py_CLEAR(result);
        PyErr_NoMemory();
    }
done:
    PyBuffer_Release(&pixels);
    return result;
}

static PyMethodDef methods[] = {{"resize", resize, METH_VARARGS, resize_doc}, {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_resample", "Pillow-exact RGB resize (see _resample.c).", -1, methods,
    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit__resample(void) {
#ifdef HAVE_AVX2_PATH
    __builtin_cpu_init();
    has_avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    return PyModule_Create(&module);
}
