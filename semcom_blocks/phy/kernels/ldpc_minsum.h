/*
 * Layered min-sum LDPC decoder, SIMD across codewords (one SIMD lane = one codeword).
 *
 * The same algorithm as semcom_blocks/phy/ldpc.py's numba kernel _layered_minsum: check rows
 * are processed in order (row r of the CSR graph row_ptr/col_idx), each updating the
 * posteriors of its variables at once; check messages are
 *     R = alpha * max(min|t| - offset, 0) * sign,
 * over the other edges of the row (t = posterior - old message), and after every full
 * iteration (one pass over all rows) a codeword whose hard decisions satisfy every check stops
 * (early stopping per codeword). A lane whose codeword has stopped is given the next codeword
 * of the batch, so every lane stays busy until the batch runs out.
 *
 * Conventions (docs/architecture.md): LLRs are log P(bit = 0) / P(bit = 1), positive means 0;
 * hard decision = 1 where the posterior is negative. Codewords are rows of a (batch, n) array.
 *
 * Precisions:
 *   LDPC_PREC_F32: float32 with the numba kernel's operation order: the same hard decisions,
 *                  iteration counts and flags, bit for bit.
 *   LDPC_PREC_I8:  8-bit fixed point: LLRs quantized as round(llr * llr_scale) (half away
 *                  from zero), clipped to +-llr_clip; posteriors clamped to +-80 and check
 *                  messages to +-47, the stored message being the posterior's actual change
 *                  (so clamping loses nothing later); alpha applied as round(x * alpha) with
 *                  alpha in Q8, the offset as round(offset * llr_scale). Not bit-exact to float;
 *                  unlike float min-sum, sensitive to the overall scale of the LLRs.
 *
 * Every function is thread-safe and keeps no state between calls.
 */
#ifndef SEMCOM_LDPC_MINSUM_H
#define SEMCOM_LDPC_MINSUM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature or meaning below changes; the Python loader checks it. */
#define LDPC_MINSUM_ABI_VERSION 1

/* Instruction sets (isa arguments); LDPC_ISA_AUTO picks the best one this CPU supports. */
#define LDPC_ISA_AUTO (-1)
#define LDPC_ISA_PORTABLE 0 /* plain C, any CPU */
#define LDPC_ISA_SSE 1      /* x86-64: SSE2 (float32), SSE4.1 (int8) */
#define LDPC_ISA_AVX2 2     /* x86-64: AVX2 */
#define LDPC_ISA_AVX512 3   /* x86-64: AVX-512F (float32), AVX-512BW (int8) */
#define LDPC_ISA_COUNT 4

#define LDPC_PREC_F32 0
#define LDPC_PREC_I8 1

/* Return codes */
#define LDPC_OK 0
#define LDPC_EINVAL (-1)  /* an argument is out of range or the graph is malformed */
#define LDPC_ENOISA (-2)  /* the requested instruction set is not supported by this CPU/build */
#define LDPC_ENOMEM (-3)

int ldpc_minsum_abi_version(void);

/* 1 if (isa, precision) can run here, else 0. */
int ldpc_minsum_isa_supported(int32_t isa, int32_t precision);

/* The best supported isa for precision (never LDPC_ISA_AUTO). */
int ldpc_minsum_best_isa(int32_t precision);

/* Lanes (codewords decoded side by side) of (isa, precision); 0 if unknown. */
int ldpc_minsum_lanes(int32_t isa, int32_t precision);

/* "portable", "sse", "avx2", "avx512"; "?" if unknown. */
const char *ldpc_minsum_isa_name(int32_t isa);

/*
 * Decode `batch` codewords.
 *   llr       (batch, n) float32, row-major; finite (not checked here).
 *   n, m      codeword length and number of check rows.
 *   row_ptr   (m + 1,) CSR row offsets into col_idx; every row has degree 2..128.
 *   col_idx   (row_ptr[m],) variable index of each edge, in [0, n).
 *   max_iter  >= 1 iterations at most.
 *   alpha, offset  min-sum normalization (0 < alpha <= 1.5) and offset (>= 0), LLR units.
 *   early_stop  nonzero: stop each codeword after the first iteration with a zero syndrome.
 *   llr_scale, llr_clip  LDPC_PREC_I8 only: quantization step (LSBs per LLR unit) and the
 *             channel LLR clip (1..80 LSBs). Ignored for float32.
 *   hard      (batch, n) uint8 out: 1 where the final posterior is negative.
 *   iters     (batch,) int32 out: iterations each codeword ran.
 *   ok        (batch,) uint8 out: 1 where the final hard decisions satisfy every check.
 * Returns LDPC_OK or a negative LDPC_E* code (outputs then undefined).
 */
int ldpc_minsum_decode(const float *llr, int64_t batch, int32_t n, int32_t m, const int32_t *row_ptr,
                       const int32_t *col_idx, int32_t max_iter, float alpha, float offset, int32_t early_stop,
                       int32_t precision, float llr_scale, int32_t llr_clip, int32_t isa, uint8_t *hard,
                       int32_t *iters, uint8_t *ok);

#ifdef __cplusplus
}
#endif

#endif
