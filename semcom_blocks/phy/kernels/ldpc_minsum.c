/*
 * Layered min-sum LDPC decoder, SIMD across codewords: see ldpc_minsum.h for the contract.
 *
 * One kernel body (ldpc_minsum_body.h) is instantiated for each instruction set and
 * precision; ldpc_minsum_decode picks one at run time from the CPU's features, so a single
 * shared library built for baseline x86-64 uses AVX2 or AVX-512 where the CPU has them.
 * On other architectures only the portable kernels are built.
 *
 * Build: cc -std=c11 -O3 -fPIC -shared -ffp-contract=off ldpc_minsum.c -o libldpc_minsum.so
 * (scripts/build_kernels.sh, CMakeLists.txt). -ffp-contract=off keeps the float32 kernels
 * free of fused multiply-adds, so that they round exactly as the numba reference does.
 */
#include "ldpc_minsum.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__) && !defined(LDPC_PORTABLE_ONLY)
#define LDPC_X86 1
#include <immintrin.h>
#else
#define LDPC_X86 0
#endif

struct kernel_args {
    const float *llr;
    int64_t batch;
    int32_t n, m;
    const int32_t *row_ptr, *col_idx;
    int32_t max_iter, early_stop, max_deg;
    uint8_t *hard;
    int32_t *iters;
    uint8_t *ok;
};

/* float32: alpha * max(min - offset, 0) */
struct prm_f32 {
    float alpha, offset;
};

/* int8 fixed point. Channel LLR q = clip(round(llr * scale), +-clip), clip <= I8_POST_MAX; check
 * magnitude min(((max(min - offset_q, 0) * alpha_q8 + 128) >> 8), I8_MSG_MAX). Posteriors are
 * clamped to +-I8_POST_MAX and the stored message is the posterior's actual change, so that a
 * posterior always equals its channel value plus its stored messages: saturation then never
 * builds up a hidden deficit (which, with plain saturating adds, makes decoding diverge once
 * converged codewords keep iterating). I8_POST_MAX + I8_MSG_MAX = 127: posterior - message
 * never overflows. (-DI8_MSG_MAX=... rebalances the two, for experiments.) */
#ifndef I8_MSG_MAX
#define I8_MSG_MAX 47
#endif
#define I8_POST_MAX (127 - I8_MSG_MAX)
struct prm_i8 {
    float scale;
    int32_t clip;
    int32_t alpha_q8;
    int32_t offset_q;
};

static void *ldpc_alloc(size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, bytes ? bytes : 64);
}

static void ldpc_free(void *p) { free(p); }

static void set_all_ones(void *p, size_t bytes) { memset(p, 0xFF, bytes); }

/* Lane l of a float32 posterior array with W lanes gets llr[0..n): adding +0.0 turns an input
 * -0.0 into +0.0, so that no posterior is ever -0.0 and a sign bit always means "< 0". */
static inline void load_lane_f32(float *post, int w, int l, const float *llr, int32_t n)
{
    for (int32_t v = 0; v < n; v++)
        post[(size_t)v * w + l] = llr[v] + 0.0f;
}

/* Lane l of an int8 posterior array with W lanes gets the quantized llr[0..n):
 * clip(llr * scale, +-clip) rounded half away from zero. Inlined into each kernel, so that the
 * quantization loop is vectorized for the kernel's instruction set. */
static inline void load_lane_i8(int8_t *post, int w, int l, const float *llr, int32_t n, const struct prm_i8 *p,
                                int8_t *tmp)
{
    const float lim = (float)p->clip, scale = p->scale;
    for (int32_t v = 0; v < n; v++) {
        float x = llr[v] * scale;
        x = x > lim ? lim : x;
        x = x < -lim ? -lim : x;
        x += x >= 0.0f ? 0.5f : -0.5f;
        tmp[v] = (int8_t)(int32_t)x;
    }
    for (int32_t v = 0; v < n; v++)
        post[(size_t)v * w + l] = tmp[v];
}

/* ---------------------------------------------------------------------------------------------
 * Portable kernels: W-lane structs, plain C loops (vectorized by the compiler where it can).
 */
#define PW_F32 8
#define PW_I8 16

typedef struct {
    float v[PW_F32];
} pf32;

typedef struct {
    int8_t v[PW_I8];
} pi8;

static inline pf32 pf32_load(const float *p)
{
    pf32 r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void pf32_store(float *p, pf32 a) { memcpy(p, a.v, sizeof a.v); }
static inline pf32 pf32_set1(float x)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = x;
    return r;
}
static inline uint32_t f32_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}
static inline float bits_f32(uint32_t u)
{
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}
static inline pf32 pf32_xor(pf32 a, pf32 b)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = bits_f32(f32_bits(a.v[l]) ^ f32_bits(b.v[l]));
    return r;
}
/* min/max as x86's minps/maxps: the second operand when the comparison is false */
static inline pf32 pf32_min(pf32 a, pf32 b)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = a.v[l] < b.v[l] ? a.v[l] : b.v[l];
    return r;
}
static inline pf32 pf32_max(pf32 a, pf32 b)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l];
    return r;
}
static inline pf32 pf32_gather(pf32 post, pf32 msg, pf32 fresh)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = post.v[l] - bits_f32(f32_bits(msg.v[l]) & ~f32_bits(fresh.v[l]));
    return r;
}
static inline pf32 pf32_abs(pf32 a)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = bits_f32(f32_bits(a.v[l]) & 0x7FFFFFFFu);
    return r;
}
static inline pf32 pf32_sel_lt(pf32 a, pf32 b, pf32 x, pf32 y)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = a.v[l] < b.v[l] ? x.v[l] : y.v[l];
    return r;
}
static inline pf32 pf32_sel_eq(pf32 a, pf32 b, pf32 x, pf32 y)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = a.v[l] == b.v[l] ? x.v[l] : y.v[l];
    return r;
}
static inline pf32 pf32_scale(pf32 a, const struct prm_f32 *p)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++) {
        const float d = a.v[l] - p->offset;
        r.v[l] = p->alpha * (d > 0.0f ? d : 0.0f);
    }
    return r;
}
static inline pf32 pf32_signed(pf32 mag, pf32 s)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = bits_f32(f32_bits(mag.v[l]) ^ (f32_bits(s.v[l]) & 0x80000000u));
    return r;
}
static inline pf32 pf32_add(pf32 a, pf32 b)
{
    pf32 r;
    for (int l = 0; l < PW_F32; l++)
        r.v[l] = a.v[l] + b.v[l];
    return r;
}
static inline uint64_t pf32_signbits(pf32 a)
{
    uint64_t m = 0;
    for (int l = 0; l < PW_F32; l++)
        m |= (uint64_t)(f32_bits(a.v[l]) >> 31) << l;
    return m;
}

#define KNAME decode_portable_f32
#define KATTR
#define W PW_F32
#define T float
#define VT pf32
#define PRM_T struct prm_f32
#define V_LOAD(p) pf32_load(p)
#define V_STORE(p, v) pf32_store((p), (v))
#define V_ZERO pf32_set1(0.0f)
#define V_INIT_MIN pf32_set1(INFINITY)
#define V_XOR(a, b) pf32_xor((a), (b))
#define V_MIN(a, b) pf32_min((a), (b))
#define V_MAX(a, b) pf32_max((a), (b))
#define V_GATHER(p, q, f) pf32_gather((p), (q), (f))
#define V_ABS(v) pf32_abs(v)
#define V_SEL_LT(a, b, x, y) pf32_sel_lt((a), (b), (x), (y))
#define V_SEL_EQ(a, b, x, y) pf32_sel_eq((a), (b), (x), (y))
#define V_SCALE(v) pf32_scale((v), prm)
#define V_SIGNED(m, s) pf32_signed((m), (s))
#define V_POST(v, r) pf32_add((v), (r))
#define V_MSG(p, v, r) (r)
#define V_SIGNBITS(v) pf32_signbits(v)
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_f32((post), W, (l), (llr), (n))
#include "ldpc_minsum_body.h"

static inline pi8 pi8_load(const int8_t *p)
{
    pi8 r;
    memcpy(r.v, p, sizeof r.v);
    return r;
}
static inline void pi8_store(int8_t *p, pi8 a) { memcpy(p, a.v, sizeof a.v); }
static inline pi8 pi8_set1(int x)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)x;
    return r;
}
static inline pi8 pi8_xor(pi8 a, pi8 b)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)(a.v[l] ^ b.v[l]);
    return r;
}
static inline pi8 pi8_min(pi8 a, pi8 b)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = a.v[l] < b.v[l] ? a.v[l] : b.v[l];
    return r;
}
static inline pi8 pi8_max(pi8 a, pi8 b)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = a.v[l] > b.v[l] ? a.v[l] : b.v[l];
    return r;
}
static inline int sat8(int x) { return x > 127 ? 127 : (x < -128 ? -128 : x); }
/* post - msg: |post| <= I8_POST_MAX and |msg| <= I8_MSG_MAX, so it never saturates */
static inline pi8 pi8_gather(pi8 post, pi8 msg, pi8 fresh)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)sat8(post.v[l] - (msg.v[l] & ~fresh.v[l]));
    return r;
}
static inline pi8 pi8_abs(pi8 a)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)(a.v[l] < 0 ? -a.v[l] : a.v[l]);
    return r;
}
static inline pi8 pi8_sel_lt(pi8 a, pi8 b, pi8 x, pi8 y)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = a.v[l] < b.v[l] ? x.v[l] : y.v[l];
    return r;
}
static inline pi8 pi8_sel_eq(pi8 a, pi8 b, pi8 x, pi8 y)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = a.v[l] == b.v[l] ? x.v[l] : y.v[l];
    return r;
}
static inline int scale_i8(int x, const struct prm_i8 *p)
{
    x -= p->offset_q;
    x = x > 0 ? x : 0;
    x = (x * p->alpha_q8 + 128) >> 8;
    return x > I8_MSG_MAX ? I8_MSG_MAX : x;
}
static inline pi8 pi8_scale(pi8 a, const struct prm_i8 *p)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)scale_i8(a.v[l], p);
    return r;
}
static inline pi8 pi8_signed(pi8 mag, pi8 s)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)(s.v[l] < 0 ? -mag.v[l] : mag.v[l]);
    return r;
}
static inline pi8 pi8_post(pi8 a, pi8 b)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++) {
        const int x = a.v[l] + b.v[l];
        r.v[l] = (int8_t)(x > I8_POST_MAX ? I8_POST_MAX : (x < -I8_POST_MAX ? -I8_POST_MAX : x));
    }
    return r;
}
static inline pi8 pi8_sub(pi8 a, pi8 b)
{
    pi8 r;
    for (int l = 0; l < PW_I8; l++)
        r.v[l] = (int8_t)(a.v[l] - b.v[l]);
    return r;
}
static inline uint64_t pi8_signbits(pi8 a)
{
    uint64_t m = 0;
    for (int l = 0; l < PW_I8; l++)
        m |= (uint64_t)(a.v[l] < 0) << l;
    return m;
}

#define KNAME decode_portable_i8
#define KATTR
#define W PW_I8
#define T int8_t
#define VT pi8
#define PRM_T struct prm_i8
#define V_LOAD(p) pi8_load(p)
#define V_STORE(p, v) pi8_store((p), (v))
#define V_ZERO pi8_set1(0)
#define V_INIT_MIN pi8_set1(127)
#define V_XOR(a, b) pi8_xor((a), (b))
#define V_MIN(a, b) pi8_min((a), (b))
#define V_MAX(a, b) pi8_max((a), (b))
#define V_GATHER(p, q, f) pi8_gather((p), (q), (f))
#define V_ABS(v) pi8_abs(v)
#define V_SEL_LT(a, b, x, y) pi8_sel_lt((a), (b), (x), (y))
#define V_SEL_EQ(a, b, x, y) pi8_sel_eq((a), (b), (x), (y))
#define V_SCALE(v) pi8_scale((v), prm)
#define V_SIGNED(m, s) pi8_signed((m), (s))
#define V_POST(v, r) pi8_post((v), (r))
#define V_MSG(p, v, r) pi8_sub((p), (v))
#define V_SIGNBITS(v) pi8_signbits(v)
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_i8((post), W, (l), (llr), (n), (prm), (tmp))
#include "ldpc_minsum_body.h"

#if LDPC_X86
/* ---------------------------------------------------------------------------------------------
 * SSE2 (float32, 4 lanes) and SSE4.1 (int8, 16 lanes)
 */
#define SSE2_ATTR __attribute__((target("sse2")))
#define SSE41_ATTR __attribute__((target("sse4.1")))

SSE2_ATTR static inline __m128 sse_sel(__m128 m, __m128 x, __m128 y)
{
    return _mm_or_ps(_mm_and_ps(m, x), _mm_andnot_ps(m, y));
}
SSE2_ATTR static inline __m128 sse_scale_f32(__m128 v, const struct prm_f32 *p)
{
    return _mm_mul_ps(_mm_set1_ps(p->alpha), _mm_max_ps(_mm_sub_ps(v, _mm_set1_ps(p->offset)), _mm_setzero_ps()));
}

#define KNAME decode_sse_f32
#define KATTR SSE2_ATTR
#define W 4
#define T float
#define VT __m128
#define PRM_T struct prm_f32
#define V_LOAD(p) _mm_load_ps(p)
#define V_STORE(p, v) _mm_store_ps((p), (v))
#define V_ZERO _mm_setzero_ps()
#define V_INIT_MIN _mm_set1_ps(INFINITY)
#define V_XOR(a, b) _mm_xor_ps((a), (b))
#define V_MIN(a, b) _mm_min_ps((a), (b))
#define V_MAX(a, b) _mm_max_ps((a), (b))
#define V_GATHER(p, q, f) _mm_sub_ps((p), _mm_andnot_ps((f), (q)))
#define V_ABS(v) _mm_andnot_ps(_mm_set1_ps(-0.0f), (v))
#define V_SEL_LT(a, b, x, y) sse_sel(_mm_cmplt_ps((a), (b)), (x), (y))
#define V_SEL_EQ(a, b, x, y) sse_sel(_mm_cmpeq_ps((a), (b)), (x), (y))
#define V_SCALE(v) sse_scale_f32((v), prm)
#define V_SIGNED(m, s) _mm_xor_ps((m), _mm_and_ps((s), _mm_set1_ps(-0.0f)))
#define V_POST(v, r) _mm_add_ps((v), (r))
#define V_MSG(p, v, r) (r)
#define V_SIGNBITS(v) ((uint64_t)(uint32_t)_mm_movemask_ps(v))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_f32((post), W, (l), (llr), (n))
#include "ldpc_minsum_body.h"

SSE41_ATTR static inline __m128i sse_scale_i8(__m128i v, const struct prm_i8 *p)
{
    const __m128i zero = _mm_setzero_si128();
    const __m128i a = _mm_set1_epi16((int16_t)p->alpha_q8), half = _mm_set1_epi16(128);
    v = _mm_subs_epu8(v, _mm_set1_epi8((int8_t)p->offset_q));
    __m128i lo = _mm_unpacklo_epi8(v, zero), hi = _mm_unpackhi_epi8(v, zero);
    lo = _mm_srli_epi16(_mm_add_epi16(_mm_mullo_epi16(lo, a), half), 8);
    hi = _mm_srli_epi16(_mm_add_epi16(_mm_mullo_epi16(hi, a), half), 8);
    return _mm_min_epu8(_mm_packus_epi16(lo, hi), _mm_set1_epi8(I8_MSG_MAX));
}

#define KNAME decode_sse_i8
#define KATTR SSE41_ATTR
#define W 16
#define T int8_t
#define VT __m128i
#define PRM_T struct prm_i8
#define V_LOAD(p) _mm_load_si128((const __m128i *)(p))
#define V_STORE(p, v) _mm_store_si128((__m128i *)(p), (v))
#define V_ZERO _mm_setzero_si128()
#define V_INIT_MIN _mm_set1_epi8(127)
#define V_XOR(a, b) _mm_xor_si128((a), (b))
#define V_MIN(a, b) _mm_min_epu8((a), (b))
#define V_MAX(a, b) _mm_max_epu8((a), (b))
#define V_GATHER(p, q, f) _mm_subs_epi8((p), _mm_andnot_si128((f), (q)))
#define V_ABS(v) _mm_abs_epi8(v)
#define V_SEL_LT(a, b, x, y) _mm_blendv_epi8((y), (x), _mm_cmplt_epi8((a), (b)))
#define V_SEL_EQ(a, b, x, y) _mm_blendv_epi8((y), (x), _mm_cmpeq_epi8((a), (b)))
#define V_SCALE(v) sse_scale_i8((v), prm)
#define V_SIGNED(m, s) _mm_sign_epi8((m), _mm_or_si128((s), _mm_set1_epi8(1)))
#define V_POST(v, r) \
    _mm_min_epi8(_mm_max_epi8(_mm_adds_epi8((v), (r)), _mm_set1_epi8(-I8_POST_MAX)), _mm_set1_epi8(I8_POST_MAX))
#define V_MSG(p, v, r) _mm_sub_epi8((p), (v))
#define V_SIGNBITS(v) ((uint64_t)(uint32_t)_mm_movemask_epi8(v))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_i8((post), W, (l), (llr), (n), (prm), (tmp))
#include "ldpc_minsum_body.h"

/* ---------------------------------------------------------------------------------------------
 * AVX2 (float32, 8 lanes; int8, 32 lanes)
 */
#define AVX2_ATTR __attribute__((target("avx2")))

AVX2_ATTR static inline __m256 avx2_scale_f32(__m256 v, const struct prm_f32 *p)
{
    return _mm256_mul_ps(_mm256_set1_ps(p->alpha),
                         _mm256_max_ps(_mm256_sub_ps(v, _mm256_set1_ps(p->offset)), _mm256_setzero_ps()));
}

#define KNAME decode_avx2_f32
#define KATTR AVX2_ATTR
#define W 8
#define T float
#define VT __m256
#define PRM_T struct prm_f32
#define V_LOAD(p) _mm256_load_ps(p)
#define V_STORE(p, v) _mm256_store_ps((p), (v))
#define V_ZERO _mm256_setzero_ps()
#define V_INIT_MIN _mm256_set1_ps(INFINITY)
#define V_XOR(a, b) _mm256_xor_ps((a), (b))
#define V_MIN(a, b) _mm256_min_ps((a), (b))
#define V_MAX(a, b) _mm256_max_ps((a), (b))
#define V_GATHER(p, q, f) _mm256_sub_ps((p), _mm256_andnot_ps((f), (q)))
#define V_ABS(v) _mm256_andnot_ps(_mm256_set1_ps(-0.0f), (v))
#define V_SEL_LT(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_LT_OQ))
#define V_SEL_EQ(a, b, x, y) _mm256_blendv_ps((y), (x), _mm256_cmp_ps((a), (b), _CMP_EQ_OQ))
#define V_SCALE(v) avx2_scale_f32((v), prm)
#define V_SIGNED(m, s) _mm256_xor_ps((m), _mm256_and_ps((s), _mm256_set1_ps(-0.0f)))
#define V_POST(v, r) _mm256_add_ps((v), (r))
#define V_MSG(p, v, r) (r)
#define V_SIGNBITS(v) ((uint64_t)(uint32_t)_mm256_movemask_ps(v))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_f32((post), W, (l), (llr), (n))
#include "ldpc_minsum_body.h"

AVX2_ATTR static inline __m256i avx2_scale_i8(__m256i v, const struct prm_i8 *p)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i a = _mm256_set1_epi16((int16_t)p->alpha_q8), half = _mm256_set1_epi16(128);
    v = _mm256_subs_epu8(v, _mm256_set1_epi8((int8_t)p->offset_q));
    __m256i lo = _mm256_unpacklo_epi8(v, zero), hi = _mm256_unpackhi_epi8(v, zero);
    lo = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mullo_epi16(lo, a), half), 8);
    hi = _mm256_srli_epi16(_mm256_add_epi16(_mm256_mullo_epi16(hi, a), half), 8);
    return _mm256_min_epu8(_mm256_packus_epi16(lo, hi), _mm256_set1_epi8(I8_MSG_MAX));
}

#define KNAME decode_avx2_i8
#define KATTR AVX2_ATTR
#define W 32
#define T int8_t
#define VT __m256i
#define PRM_T struct prm_i8
#define V_LOAD(p) _mm256_load_si256((const __m256i *)(p))
#define V_STORE(p, v) _mm256_store_si256((__m256i *)(p), (v))
#define V_ZERO _mm256_setzero_si256()
#define V_INIT_MIN _mm256_set1_epi8(127)
#define V_XOR(a, b) _mm256_xor_si256((a), (b))
#define V_MIN(a, b) _mm256_min_epu8((a), (b))
#define V_MAX(a, b) _mm256_max_epu8((a), (b))
#define V_GATHER(p, q, f) _mm256_subs_epi8((p), _mm256_andnot_si256((f), (q)))
#define V_ABS(v) _mm256_abs_epi8(v)
#define V_SEL_LT(a, b, x, y) _mm256_blendv_epi8((y), (x), _mm256_cmpgt_epi8((b), (a)))
#define V_SEL_EQ(a, b, x, y) _mm256_blendv_epi8((y), (x), _mm256_cmpeq_epi8((a), (b)))
#define V_SCALE(v) avx2_scale_i8((v), prm)
#define V_SIGNED(m, s) _mm256_sign_epi8((m), _mm256_or_si256((s), _mm256_set1_epi8(1)))
#define V_POST(v, r)                                                                              \
    _mm256_min_epi8(_mm256_max_epi8(_mm256_adds_epi8((v), (r)), _mm256_set1_epi8(-I8_POST_MAX)), \
                    _mm256_set1_epi8(I8_POST_MAX))
#define V_MSG(p, v, r) _mm256_sub_epi8((p), (v))
#define V_SIGNBITS(v) ((uint64_t)(uint32_t)_mm256_movemask_epi8(v))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_i8((post), W, (l), (llr), (n), (prm), (tmp))
#include "ldpc_minsum_body.h"

/* ---------------------------------------------------------------------------------------------
 * AVX-512 (float32, 16 lanes, AVX-512F; int8, 64 lanes, AVX-512BW)
 */
#define AVX512F_ATTR __attribute__((target("avx512f")))
#define AVX512BW_ATTR __attribute__((target("avx512f,avx512bw")))

AVX512F_ATTR static inline __m512 z_xor_ps(__m512 a, __m512 b)
{
    return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
AVX512F_ATTR static inline __m512 z_andnot_ps(__m512 a, __m512 b)
{
    return _mm512_castsi512_ps(_mm512_andnot_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}
AVX512F_ATTR static inline __m512 z_signed_ps(__m512 mag, __m512 s)
{
    const __m512i sign = _mm512_set1_epi32((int)0x80000000u);
    return _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(mag), _mm512_and_si512(_mm512_castps_si512(s), sign)));
}
AVX512F_ATTR static inline __m512 z_scale_f32(__m512 v, const struct prm_f32 *p)
{
    return _mm512_mul_ps(_mm512_set1_ps(p->alpha),
                         _mm512_max_ps(_mm512_sub_ps(v, _mm512_set1_ps(p->offset)), _mm512_setzero_ps()));
}

#define KNAME decode_avx512_f32
#define KATTR AVX512F_ATTR
#define W 16
#define T float
#define VT __m512
#define PRM_T struct prm_f32
#define V_LOAD(p) _mm512_load_ps(p)
#define V_STORE(p, v) _mm512_store_ps((p), (v))
#define V_ZERO _mm512_setzero_ps()
#define V_INIT_MIN _mm512_set1_ps(INFINITY)
#define V_XOR(a, b) z_xor_ps((a), (b))
#define V_MIN(a, b) _mm512_min_ps((a), (b))
#define V_MAX(a, b) _mm512_max_ps((a), (b))
#define V_GATHER(p, q, f) _mm512_sub_ps((p), z_andnot_ps((f), (q)))
#define V_ABS(v) _mm512_abs_ps(v)
#define V_SEL_LT(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_LT_OQ), (y), (x))
#define V_SEL_EQ(a, b, x, y) _mm512_mask_blend_ps(_mm512_cmp_ps_mask((a), (b), _CMP_EQ_OQ), (y), (x))
#define V_SCALE(v) z_scale_f32((v), prm)
#define V_SIGNED(m, s) z_signed_ps((m), (s))
#define V_POST(v, r) _mm512_add_ps((v), (r))
#define V_MSG(p, v, r) (r)
#define V_SIGNBITS(v) ((uint64_t)_mm512_cmplt_epi32_mask(_mm512_castps_si512(v), _mm512_setzero_si512()))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_f32((post), W, (l), (llr), (n))
#include "ldpc_minsum_body.h"

AVX512BW_ATTR static inline __m512i z_scale_i8(__m512i v, const struct prm_i8 *p)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i a = _mm512_set1_epi16((int16_t)p->alpha_q8), half = _mm512_set1_epi16(128);
    v = _mm512_subs_epu8(v, _mm512_set1_epi8((char)p->offset_q));
    __m512i lo = _mm512_unpacklo_epi8(v, zero), hi = _mm512_unpackhi_epi8(v, zero);
    lo = _mm512_srli_epi16(_mm512_add_epi16(_mm512_mullo_epi16(lo, a), half), 8);
    hi = _mm512_srli_epi16(_mm512_add_epi16(_mm512_mullo_epi16(hi, a), half), 8);
    return _mm512_min_epu8(_mm512_packus_epi16(lo, hi), _mm512_set1_epi8(I8_MSG_MAX));
}
AVX512BW_ATTR static inline __m512i z_signed_i8(__m512i mag, __m512i s)
{
    return _mm512_mask_sub_epi8(mag, _mm512_movepi8_mask(s), _mm512_setzero_si512(), mag);
}

#define KNAME decode_avx512_i8
#define KATTR AVX512BW_ATTR
#define W 64
#define T int8_t
#define VT __m512i
#define PRM_T struct prm_i8
#define V_LOAD(p) _mm512_load_si512((const void *)(p))
#define V_STORE(p, v) _mm512_store_si512((void *)(p), (v))
#define V_ZERO _mm512_setzero_si512()
#define V_INIT_MIN _mm512_set1_epi8(127)
#define V_XOR(a, b) _mm512_xor_si512((a), (b))
#define V_MIN(a, b) _mm512_min_epu8((a), (b))
#define V_MAX(a, b) _mm512_max_epu8((a), (b))
#define V_GATHER(p, q, f) _mm512_subs_epi8((p), _mm512_andnot_si512((f), (q)))
#define V_ABS(v) _mm512_abs_epi8(v)
#define V_SEL_LT(a, b, x, y) _mm512_mask_blend_epi8(_mm512_cmplt_epi8_mask((a), (b)), (y), (x))
#define V_SEL_EQ(a, b, x, y) _mm512_mask_blend_epi8(_mm512_cmpeq_epi8_mask((a), (b)), (y), (x))
#define V_SCALE(v) z_scale_i8((v), prm)
#define V_SIGNED(m, s) z_signed_i8((m), (s))
#define V_POST(v, r)                                                                              \
    _mm512_min_epi8(_mm512_max_epi8(_mm512_adds_epi8((v), (r)), _mm512_set1_epi8(-I8_POST_MAX)), \
                    _mm512_set1_epi8(I8_POST_MAX))
#define V_MSG(p, v, r) _mm512_sub_epi8((p), (v))
#define V_SIGNBITS(v) ((uint64_t)_mm512_movepi8_mask(v))
#define LOAD_LANE(post, l, llr, n, prm, tmp) load_lane_i8((post), W, (l), (llr), (n), (prm), (tmp))
#include "ldpc_minsum_body.h"
#endif /* LDPC_X86 */

/* ---------------------------------------------------------------------------------------------
 * Dispatch
 */
typedef int (*kernel_fn)(const struct kernel_args *, const void *);

static kernel_fn kernel_for(int32_t isa, int32_t precision)
{
    if (precision != LDPC_PREC_F32 && precision != LDPC_PREC_I8)
        return NULL;
    const int f = precision == LDPC_PREC_F32;
    switch (isa) {
    case LDPC_ISA_PORTABLE:
        return f ? decode_portable_f32 : decode_portable_i8;
#if LDPC_X86
    case LDPC_ISA_SSE:
        __builtin_cpu_init();
        if (f)
            return __builtin_cpu_supports("sse2") ? decode_sse_f32 : NULL;
        return __builtin_cpu_supports("sse4.1") ? decode_sse_i8 : NULL;
    case LDPC_ISA_AVX2:
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx2"))
            return NULL;
        return f ? decode_avx2_f32 : decode_avx2_i8;
    case LDPC_ISA_AVX512:
        __builtin_cpu_init();
        if (!__builtin_cpu_supports("avx512f"))
            return NULL;
        if (f)
            return decode_avx512_f32;
        return __builtin_cpu_supports("avx512bw") ? decode_avx512_i8 : NULL;
#endif
    default:
        return NULL;
    }
}

int ldpc_minsum_abi_version(void) { return LDPC_MINSUM_ABI_VERSION; }

int ldpc_minsum_isa_supported(int32_t isa, int32_t precision) { return kernel_for(isa, precision) != NULL; }

int ldpc_minsum_best_isa(int32_t precision)
{
    for (int32_t isa = LDPC_ISA_COUNT - 1; isa > LDPC_ISA_PORTABLE; isa--)
        if (kernel_for(isa, precision))
            return isa;
    return LDPC_ISA_PORTABLE;
}

int ldpc_minsum_lanes(int32_t isa, int32_t precision)
{
    static const int f32[LDPC_ISA_COUNT] = {PW_F32, 4, 8, 16};
    static const int i8[LDPC_ISA_COUNT] = {PW_I8, 16, 32, 64};
    if (isa < 0 || isa >= LDPC_ISA_COUNT)
        return 0;
    if (precision == LDPC_PREC_F32)
        return f32[isa];
    if (precision == LDPC_PREC_I8)
        return i8[isa];
    return 0;
}

const char *ldpc_minsum_isa_name(int32_t isa)
{
    static const char *names[LDPC_ISA_COUNT] = {"portable", "sse", "avx2", "avx512"};
    return (isa >= 0 && isa < LDPC_ISA_COUNT) ? names[isa] : "?";
}

int ldpc_minsum_decode(const float *llr, int64_t batch, int32_t n, int32_t m, const int32_t *row_ptr,
                       const int32_t *col_idx, int32_t max_iter, float alpha, float offset, int32_t early_stop,
                       int32_t precision, float llr_scale, int32_t llr_clip, int32_t isa, uint8_t *hard,
                       int32_t *iters, uint8_t *ok)
{
    if (batch < 0 || n < 1 || m < 1 || max_iter < 1 || !row_ptr || !col_idx)
        return LDPC_EINVAL;
    if (!(alpha > 0.0f && alpha <= 1.5f) || !(offset >= 0.0f) || !isfinite(offset))
        return LDPC_EINVAL;
    if (row_ptr[0] != 0)
        return LDPC_EINVAL;
    int32_t max_deg = 0;
    for (int32_t r = 0; r < m; r++) {
        const int32_t d = row_ptr[r + 1] - row_ptr[r];
        if (d < 2 || d > 128)
            return LDPC_EINVAL;
        max_deg = d > max_deg ? d : max_deg;
    }
    for (int32_t e = 0; e < row_ptr[m]; e++)
        if (col_idx[e] < 0 || col_idx[e] >= n)
            return LDPC_EINVAL;
    if (isa == LDPC_ISA_AUTO)
        isa = ldpc_minsum_best_isa(precision);
    kernel_fn fn = kernel_for(isa, precision);
    if (!fn)
        return (precision == LDPC_PREC_F32 || precision == LDPC_PREC_I8) ? LDPC_ENOISA : LDPC_EINVAL;
    if (batch == 0)
        return LDPC_OK;
    if (!llr || !hard || !iters || !ok)
        return LDPC_EINVAL;

    struct kernel_args args = {llr, batch, n, m, row_ptr, col_idx, max_iter, early_stop != 0, max_deg,
                               hard, iters, ok};
    if (precision == LDPC_PREC_F32) {
        const struct prm_f32 p = {alpha, offset};
        return fn(&args, &p);
    }
    if (!(llr_scale > 0.0f) || !isfinite(llr_scale) || llr_clip < 1 || llr_clip > I8_POST_MAX)
        return LDPC_EINVAL;
    const float off_q = offset * llr_scale;
    const struct prm_i8 p = {llr_scale, llr_clip, (int32_t)lrintf(alpha * 256.0f),
                             (int32_t)lrintf(off_q > 127.0f ? 127.0f : off_q)};
    return fn(&args, &p);
}
