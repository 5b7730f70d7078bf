/*
 * LTE turbo decoder (36.212 5.1.3.2, R = 1/3 with tail), max-log-MAP, SIMD across codewords
 * (one SIMD lane = one codeword).
 *
 * The same algorithm, in the same float32 operation order, as semcom_blocks/phy/turbo.py's
 * numba kernel _turbo_decode_kernel with exact = False: every codeword gets the same hard
 * decisions, iteration count and convergence flag, bit for bit. Per full iteration decoder 1
 * runs, then decoder 2 on the QPP-interleaved sequence; the a priori input of each is the
 * other's extrinsic output times `scaling`. Branch metric of a step with bits (u, z):
 * ((1-2u) (sys + apr) + (1-2z) par) / 2; state metrics are normalised to state 0 after every
 * step; both trellises start in state 0 and end there after their 3 tail steps. A codeword has
 * converged when neither decoder of this iteration changed a hard decision of the previous
 * iteration's (not counted in the first iteration), or, with crc_width > 0, when its decisions
 * pass the CRC; with early_stop it stops there. A lane whose codeword has stopped is given the
 * next codeword of the batch, so every lane stays busy until the batch runs out.
 *
 * Conventions (docs/architecture.md): LLRs are log P(bit = 0) / P(bit = 1) in nats, positive
 * means 0; hard decision = 1 where the a posteriori LLR is negative. A codeword is the three
 * streams [d0 | d1 | d2] of K + 4 bits each (n = 3K + 12), as turbo.py lays them out.
 *
 * Every function is thread-safe and keeps no state between calls.
 */
#ifndef SEMCOM_TURBO_MAXLOG_H
#define SEMCOM_TURBO_MAXLOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bumped whenever a signature or meaning below changes; the Python loader checks it. */
#define TURBO_MAXLOG_ABI_VERSION 1

/* Instruction sets (isa arguments), the same numbering as ldpc_minsum.h. */
#define TURBO_ISA_AUTO (-1)
#define TURBO_ISA_PORTABLE 0 /* plain C, any CPU: 8 lanes */
#define TURBO_ISA_SSE 1      /* x86-64 SSE2: 4 lanes */
#define TURBO_ISA_AVX2 2     /* x86-64 AVX2: 8 lanes */
#define TURBO_ISA_AVX512 3   /* x86-64 AVX-512F: 16 lanes */
#define TURBO_ISA_COUNT 4

#define TURBO_OK 0
#define TURBO_EINVAL (-1) /* an argument is out of range */
#define TURBO_ENOISA (-2) /* the requested instruction set is not supported by this CPU/build */
#define TURBO_ENOMEM (-3)

int turbo_maxlog_abi_version(void);

/* 1 if isa can run here, else 0. */
int turbo_maxlog_isa_supported(int32_t isa);

/* Lanes (codewords decoded side by side) of isa; 0 if unknown. */
int turbo_maxlog_lanes(int32_t isa);

/*
 * Decode `batch` codewords of K information bits.
 *   llr        (batch, 3K + 12) float32, row-major, finite (not checked here).
 *   k          information bits per codeword, 8..6144.
 *   perm       (K,) interleaver: encoder 2 reads information bit perm[i] at step i; a permutation
 *              of 0..K-1 (checked).
 *   tail_idx   (12,) = [encoder][step][systematic, parity]: codeword positions of the tail bits.
 *   max_iter   >= 1 full iterations at most.
 *   scaling    extrinsic scaling, 0 < scaling <= 1.
 *   early_stop nonzero: stop each codeword once converged.
 *   crc_poly, crc_width  an MSB-first CRC (zero initial register, no final XOR) whose parity bits
 *              end the information bits: passing it counts as converged; crc_width 0 = none,
 *              else 1..32.
 *   bits       (batch, K) uint8 out: the hard decisions.
 *   iters      (batch,) int32 out: full iterations each codeword ran.
 *   converged  (batch,) uint8 out: the convergence test at its last iteration.
 * Returns TURBO_OK or a negative TURBO_E* code (outputs then undefined).
 */
int turbo_maxlog_decode(const float *llr, int64_t batch, int32_t k, const int32_t *perm, const int32_t *tail_idx,
                        int32_t max_iter, float scaling, int32_t early_stop, uint32_t crc_poly, int32_t crc_width,
                        int32_t isa, uint8_t *bits, int32_t *iters, uint8_t *converged);

#ifdef __cplusplus
}
#endif

#endif
