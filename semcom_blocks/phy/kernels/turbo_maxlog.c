/*
 * Max-log-MAP LTE turbo decoder, SIMD across codewords: see turbo_maxlog.h for the contract.
 *
 * One kernel body (turbo_maxlog_body.h) is instantiated for each instruction set;
 * turbo_maxlog_decode picks one at run time from the CPU's features, so a single shared library
 * built for baseline x86-64 uses AVX2 or AVX-512 where the CPU has them. On other architectures
 * only the portable kernel is built.
 *
 * Build: cc -std=c11 -O3 -fPIC -shared -ffp-contract=off turbo_maxlog.c -o libturbo_maxlog.so
 * (scripts/build_kernels.sh, CMakeLists.txt). -ffp-contract=off keeps the kernels free of fused
 * multiply-adds, so that they round exactly as the numba reference does.
 */
#include "turbo_maxlog.h"

#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(TURBO_PORTABLE_ONLY)
#define TURBO_X86 1
#include <immintrin.h>
#else
#define TURBO_X86 0
#endif

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)

/* log of probability zero as a finite float32: turbo.py's _NEG */
#define TURBO_NEG (-1.0e30f)

/* Trellis of the 13/15 RSC encoder (turbo.py's _rsc_tables): state s = r0 + 2 r1 + 4 r2; for
 * input u the feedback is w = u ^ r1 ^ r2, the parity w ^ r0 ^ r2, the next state w + 2 r0 + 4 r1.
 * State n's two predecessors are n >> 1 and (n >> 1) + 4, reached with inputs prev_u[n][j] and
 * parities prev_z[n][j]. */
static const int trellis_next[8][2] = {{0, 1}, {2, 3}, {5, 4}, {7, 6}, {1, 0}, {3, 2}, {4, 5}, {6, 7}};
static const int trellis_parity[8][2] = {{0, 1}, {1, 0}, {1, 0}, {0, 1}, {0, 1}, {1, 0}, {1, 0}, {0, 1}};
static const int trellis_prev_u[8][2] = {{0, 1}, {1, 0}, {0, 1}, {1, 0}, {1, 0}, {0, 1}, {1, 0}, {0, 1}};
static const int trellis_prev_z[8][2] = {{0, 1}, {1, 0}, {1, 0}, {0, 1}, {0, 1}, {1, 0}, {1, 0}, {0, 1}};

struct turbo_args {
    const float *llr;
    int64_t batch;
    int32_t n, k;
    const int32_t *perm, *tail_idx;
    int32_t max_iter, early_stop;
    float scaling;
    uint32_t crc_poly;
    int32_t crc_width;
    uint32_t crc_table[256]; /* byte-at-a-time remainders, crc_width >= 8 */
    uint8_t *bits;
    int32_t *iters;
    uint8_t *converged;
};

/* Workspace of one decode call, lane-interleaved (turbo_maxlog_body.h): every float region is a
 * whole number of W-float vectors, so each stays vector-aligned. */
struct turbo_ws {
    void *base;
    float *sys1, *par1, *sys2, *par2, *apr1, *apr2, *ext, *alpha;
    uint64_t *dec; /* dec[t]: bit l = lane l's hard decision on information bit t */
};

static int turbo_ws_alloc(struct turbo_ws *w, int32_t k, int lanes)
{
    const size_t v = (size_t)lanes, kt = (size_t)k + 3;
    const size_t floats = v * (4 * kt + 3 * (size_t)k + 8 * ((size_t)k + 1));
    size_t bytes = floats * sizeof(float) + (size_t)k * sizeof(uint64_t);
    bytes = (bytes + 63) & ~(size_t)63;
    float *p = aligned_alloc(64, bytes);
    if (!p)
        return -1;
    memset(p, 0, bytes); /* idle lanes decode zeros */
    w->base = p;
    w->sys1 = p;
    w->par1 = w->sys1 + kt * v;
    w->sys2 = w->par1 + kt * v;
    w->par2 = w->sys2 + kt * v;
    w->apr1 = w->par2 + kt * v;
    w->apr2 = w->apr1 + (size_t)k * v;
    w->ext = w->apr2 + (size_t)k * v;
    w->alpha = w->ext + (size_t)k * v;
    w->dec = (uint64_t *)(w->alpha + 8 * ((size_t)k + 1) * v);
    return 0;
}

static void turbo_ws_free(struct turbo_ws *w) { free(w->base); }

/* One step of turbo.py's _crc_remainder: the register after one more message bit. */
static inline uint64_t crc_bit(uint64_t reg, unsigned bit, uint32_t poly, int width, uint64_t mask)
{
    const unsigned feedback = (unsigned)((reg >> (width - 1)) & 1u) ^ bit;
    reg = (reg << 1) & mask;
    return feedback ? reg ^ poly : reg;
}

static void crc_make_table(struct turbo_args *a)
{
    if (a->crc_width < 8)
        return;
    const uint64_t mask = ((uint64_t)1 << a->crc_width) - 1;
    for (uint32_t i = 0; i < 256; i++) {
        uint64_t reg = (uint64_t)i << (a->crc_width - 8);
        for (int j = 0; j < 8; j++)
            reg = crc_bit(reg, 0, a->crc_poly, a->crc_width, mask);
        a->crc_table[i] = (uint32_t)reg;
    }
}

/* Whether lane l's hard decisions pass the CRC (remainder 0), bit by bit as the reference does;
 * for crc_width >= 8 the bits after the first k mod 8 go a byte at a time (the same remainder:
 * R' = (R x^8 + B x^width) mod P for every byte B, with the top 8 bits of R folded into the table). */
static int turbo_crc_lane_ok(const struct turbo_args *a, const struct turbo_ws *w, int l)
{
    const int width = a->crc_width;
    const uint64_t mask = ((uint64_t)1 << width) - 1;
    const int32_t k = a->k;
    int32_t t = 0;
    uint64_t reg = 0;
    if (width >= 8) {
        for (; t < k % 8; t++)
            reg = crc_bit(reg, (unsigned)((w->dec[t] >> l) & 1u), a->crc_poly, width, mask);
        for (; t < k; t += 8) {
            unsigned byte = 0;
            for (int j = 0; j < 8; j++)
                byte = (byte << 1) | (unsigned)((w->dec[t + j] >> l) & 1u);
            reg = ((reg << 8) & mask) ^ a->crc_table[((reg >> (width - 8)) ^ byte) & 0xFFu];
        }
    } else {
        for (; t < k; t++)
            reg = crc_bit(reg, (unsigned)((w->dec[t] >> l) & 1u), a->crc_poly, width, mask);
    }
    return reg == 0;
}

/* ---------------------------------------------------------------------------------------------
 * Portable kernel: 8 lanes as GCC/Clang generic vectors (plain SIMD of the target, e.g. two SSE2
 * or NEON registers; the compiler splits them as needed).
 */
#define PW 4

typedef float pvec __attribute__((vector_size(PW * sizeof(float))));
typedef int32_t pmask __attribute__((vector_size(PW * sizeof(int32_t))));

static inline pvec p_load(const float *p)
{
    pvec r;
    memcpy(&r, p, sizeof r);
    return r;
}
static inline void p_store(float *p, pvec a) { memcpy(p, &a, sizeof a); }
static inline pvec p_set1(float x) { return (pvec){x, x, x, x}; }
/* a > b ? a : b lane by lane (the comparison gives all-ones lanes where true) */
static inline pvec p_max(pvec a, pvec b)
{
    const pmask m = a > b;
    return (pvec)((m & (pmask)a) | (~m & (pmask)b));
}
static inline uint64_t p_ltz(pvec a)
{
    const pmask m = a < p_set1(0.0f);
    uint64_t r = 0;
    for (int l = 0; l < PW; l++)
        r |= (uint64_t)(m[l] & 1) << l;
    return r;
}

#define KNAME decode_portable
#define KSISO siso_portable
#define KATTR
#define W PW
#define VT pvec
#define V_LOAD(p) p_load(p)
#define V_STORE(p, v) p_store((p), (v))
#define V_SET1(x) p_set1(x)
#define V_ADD(a, b) ((a) + (b))
#define V_SUB(a, b) ((a) - (b))
#define V_MUL(a, b) ((a) * (b))
#define V_MAX(a, b) p_max((a), (b))
#define V_LTZ(v) p_ltz(v)
#include "turbo_maxlog_body.h"

#if TURBO_X86
/* ---------------------------------------------------------------------------------------------
 * SSE2 (4 lanes), AVX2 (8 lanes), AVX-512F (16 lanes)
 */
#define SSE2_ATTR __attribute__((target("sse2")))
#define KNAME decode_sse
#define KSISO siso_sse
#define KATTR SSE2_ATTR
#define W 4
#define VT __m128
#define V_LOAD(p) _mm_load_ps(p)
#define V_STORE(p, v) _mm_store_ps((p), (v))
#define V_SET1(x) _mm_set1_ps(x)
#define V_ADD(a, b) _mm_add_ps((a), (b))
#define V_SUB(a, b) _mm_sub_ps((a), (b))
#define V_MUL(a, b) _mm_mul_ps((a), (b))
#define V_MAX(a, b) _mm_max_ps((a), (b))
#define V_LTZ(v) ((uint64_t)(uint32_t)_mm_movemask_ps(_mm_cmplt_ps((v), _mm_setzero_ps())))
#include "turbo_maxlog_body.h"

#define AVX2_ATTR __attribute__((target("avx2")))
#define KNAME decode_avx2
#define KSISO siso_avx2
#define KATTR AVX2_ATTR
#define W 8
#define VT __m256
#define V_LOAD(p) _mm256_load_ps(p)
#define V_STORE(p, v) _mm256_store_ps((p), (v))
#define V_SET1(x) _mm256_set1_ps(x)
#define V_ADD(a, b) _mm256_add_ps((a), (b))
#define V_SUB(a, b) _mm256_sub_ps((a), (b))
#define V_MUL(a, b) _mm256_mul_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_LTZ(v) ((uint64_t)(uint32_t)_mm256_movemask_ps(_mm256_cmp_ps((v), _mm256_setzero_ps(), _CMP_LT_OQ)))
#include "turbo_maxlog_body.h"

#define AVX512F_ATTR __attribute__((target("avx512f")))
#define KNAME decode_avx512
#define KSISO siso_avx512
#define KATTR AVX512F_ATTR
#define W 16
#define VT __m512
#define V_LOAD(p) _mm512_load_ps(p)
#define V_STORE(p, v) _mm512_store_ps((p), (v))
#define V_SET1(x) _mm512_set1_ps(x)
#define V_ADD(a, b) _mm512_add_ps((a), (b))
#define V_SUB(a, b) _mm512_sub_ps((a), (b))
#define V_MUL(a, b) _mm512_mul_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_LTZ(v) ((uint64_t)_mm512_cmp_ps_mask((v), _mm512_setzero_ps(), _CMP_LT_OQ))
#include "turbo_maxlog_body.h"
#endif /* TURBO_X86 */

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 */
typedef int (*kernel_fn)(const struct turbo_args *);

static kernel_fn kernel_for(int32_t isa)
{
    switch (isa) {
    case TURBO_ISA_PORTABLE:
        return decode_portable;
#if TURBO_X86
    case TURBO_ISA_SSE:
        __builtin_cpu_init();
        return __builtin_cpu_supports("sse2") ? decode_sse : NULL;
    case TURBO_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") ? decode_avx2 : NULL;
    case TURBO_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") ? decode_avx512 : NULL;
#endif
    default:
        return NULL;
    }
}

int turbo_maxlog_abi_version(void) { return TURBO_MAXLOG_ABI_VERSION; }

int turbo_maxlog_isa_supported(int32_t isa) { return kernel_for(isa) != NULL; }

int turbo_maxlog_lanes(int32_t isa)
{
    static const int lanes[TURBO_ISA_COUNT] = {PW, 4, 8, 16};
    return (isa >= 0 && isa < TURBO_ISA_COUNT) ? lanes[isa] : 0;
}

int turbo_maxlog_decode(const float *llr, int64_t batch, int32_t k, const int32_t *perm, const int32_t *tail_idx,
                        int32_t max_iter, float scaling, int32_t early_stop, uint32_t crc_poly, int32_t crc_width,
                        int32_t isa, uint8_t *bits, int32_t *iters, uint8_t *converged)
{
    if (batch < 0 || k < 8 || k > 6144 || max_iter < 1 || !perm || !tail_idx)
        return TURBO_EINVAL;
    if (!(scaling > 0.0f && scaling <= 1.0f) || crc_width < 0 || crc_width > 32)
        return TURBO_EINVAL;
    if (crc_width > 0 && crc_width < 32 && (crc_poly >> crc_width) != 0)
        return TURBO_EINVAL;
    const int32_t n = 3 * k + 12;
    for (int i = 0; i < 12; i++)
        if (tail_idx[i] < 0 || tail_idx[i] >= n)
            return TURBO_EINVAL;
    unsigned char *seen = calloc((size_t)k, 1);
    if (!seen)
        return TURBO_ENOMEM;
    int bad = 0;
    for (int32_t i = 0; i < k && !bad; i++) {
        bad = perm[i] < 0 || perm[i] >= k || seen[perm[i]];
        if (!bad)
            seen[perm[i]] = 1;
    }
    free(seen);
    if (bad)
        return TURBO_EINVAL;
    if (isa == TURBO_ISA_AUTO) {
        isa = TURBO_ISA_PORTABLE;
        for (int32_t i = TURBO_ISA_COUNT - 1; i > TURBO_ISA_PORTABLE; i--)
            if (kernel_for(i)) {
                isa = i;
                break;
            }
    }
    kernel_fn fn = kernel_for(isa);
    if (!fn)
        return (isa >= 0 && isa < TURBO_ISA_COUNT) ? TURBO_ENOISA : TURBO_EINVAL;
    if (batch == 0)
        return TURBO_OK;
    if (!llr || !bits || !iters || !converged)
        return TURBO_EINVAL;
    struct turbo_args *a = malloc(sizeof *a);
    if (!a)
        return TURBO_ENOMEM;
    *a = (struct turbo_args){.llr = llr, .batch = batch, .n = n, .k = k, .perm = perm, .tail_idx = tail_idx,
                             .max_iter = max_iter, .early_stop = early_stop != 0, .scaling = scaling,
                             .crc_poly = crc_poly, .crc_width = crc_width, .bits = bits, .iters = iters,
                             .converged = converged};
    crc_make_table(a);
    const int rc = fn(a);
    free(a);
    return rc;
}
