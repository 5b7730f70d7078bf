/*
 * The max-log-MAP turbo decoder, written once for every instruction set: the including file
 * defines the names below and includes this file once per instruction set (turbo_maxlog.c).
 * Not a public header.
 *
 * Expected definitions:
 *   KNAME, KSISO   names of the decoder and of its constituent (SISO) pass
 *   KATTR          function attributes (the target instruction set)
 *   W              lanes (codewords side by side)
 *   VT             vector type of W floats
 *   V_LOAD(p), V_STORE(p, v)   aligned load / store of W floats
 *   V_SET1(x)      all lanes x
 *   V_ADD, V_SUB, V_MUL        lane-wise float32 arithmetic (IEEE, no fused operations)
 *   V_MAX(a, b)    lane-wise a > b ? a : b (x86 maxps: the second operand on a tie)
 *   V_LTZ(v)       uint64_t with bit l set where lane l is < 0 (so -0.0 is not)
 *
 * Arrays are lane-interleaved: x[t * W + l] is element t of lane l's codeword; the forward
 * metrics alpha[(t * 8 + s) * W + l]. Each lane runs exactly the scalar algorithm's sequence of
 * operations on its own codeword (turbo.py: _siso and _turbo_decode_kernel), so lanes never
 * interact. The trellis tables (trellis_* in turbo_maxlog.c) are constants: after the 8-state
 * loops are unrolled every +-h below is a plain add or subtract.
 */

/* x + (1 - 2 bit) h, as the reference's x + sign * h (the product by +-1 is exact) */
#define ADDS(x, bit, h) ((bit) ? V_SUB((x), (h)) : V_ADD((x), (h)))

/* One BCJR pass of one constituent decoder: ext[0:k] from sys, par (k + 3, tail included) and
 * apr (k); alpha is a (k + 1) x 8 workspace. */
KATTR static void KSISO(const float *sys, const float *par, const float *apr, int32_t k, float *alpha, float *ext)
{
    const VT half = V_SET1(0.5f), neg = V_SET1(TURBO_NEG);
    VT a[8], b[8], nx[8];
    a[0] = V_SET1(0.0f);
    for (int s = 1; s < 8; s++)
        a[s] = neg;
    for (int s = 0; s < 8; s++)
        V_STORE(alpha + (size_t)s * W, a[s]);
    for (int32_t t = 0; t < k; t++) {
        const VT hs = V_MUL(half, V_ADD(V_LOAD(sys + (size_t)t * W), V_LOAD(apr + (size_t)t * W)));
        const VT hp = V_MUL(half, V_LOAD(par + (size_t)t * W));
#pragma GCC unroll 8
        for (int n = 0; n < 8; n++) {
            const int p = n >> 1; /* predecessors p and p + 4 */
            const VT a0 = ADDS(ADDS(a[p], trellis_prev_u[n][0], hs), trellis_prev_z[n][0], hp);
            const VT a1 = ADDS(ADDS(a[p + 4], trellis_prev_u[n][1], hs), trellis_prev_z[n][1], hp);
            nx[n] = V_MAX(a0, a1);
        }
        const VT ref = nx[0];
        float *out = alpha + (size_t)(t + 1) * 8 * W;
#pragma GCC unroll 8
        for (int n = 0; n < 8; n++) {
            a[n] = V_SUB(nx[n], ref);
            V_STORE(out + (size_t)n * W, a[n]);
        }
    }

    b[0] = V_SET1(0.0f);
    for (int s = 1; s < 8; s++)
        b[s] = neg;
    for (int32_t t = k + 2; t >= 0; t--) {
        const VT hp = V_MUL(half, V_LOAD(par + (size_t)t * W));
        VT hs;
        if (t < k) {
            hs = V_MUL(half, V_ADD(V_LOAD(sys + (size_t)t * W), V_LOAD(apr + (size_t)t * W)));
            const float *at = alpha + (size_t)t * 8 * W;
            VT m0 = neg, m1 = neg;
#pragma GCC unroll 8
            for (int s = 0; s < 8; s++) {
                const VT as = V_LOAD(at + (size_t)s * W);
                m0 = V_MAX(m0, V_ADD(ADDS(as, trellis_parity[s][0], hp), b[trellis_next[s][0]]));
                m1 = V_MAX(m1, V_ADD(ADDS(as, trellis_parity[s][1], hp), b[trellis_next[s][1]]));
            }
            V_STORE(ext + (size_t)t * W, V_SUB(m0, m1));
            if (t == 0)
                break; /* the metrics before step 0 are not used */
        } else {
            hs = V_MUL(half, V_LOAD(sys + (size_t)t * W));
        }
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++) {
            const VT b0 = ADDS(V_ADD(b[trellis_next[s][0]], hs), trellis_parity[s][0], hp);
            const VT b1 = ADDS(V_SUB(b[trellis_next[s][1]], hs), trellis_parity[s][1], hp);
            nx[s] = V_MAX(b0, b1);
        }
        const VT ref = nx[0];
#pragma GCC unroll 8
        for (int s = 0; s < 8; s++)
            b[s] = V_SUB(nx[s], ref);
    }
}

/* Lane l gets codeword `row`: the two decoders' systematic and parity inputs (tails included),
 * a priori 0 and no hard decision yet (so that its first iteration counts as a change). */
KATTR static void JOIN(KNAME, _load)(const struct turbo_args *a, struct turbo_ws *w, int l, const float *row)
{
    const int32_t k = a->k, stream = k + 4;
    const uint64_t keep = ~((uint64_t)1 << l);
    for (int32_t i = 0; i < k; i++) {
        const size_t at = (size_t)i * W + l;
        w->sys1[at] = row[i];
        w->par1[at] = row[stream + i];
        w->sys2[at] = row[a->perm[i]];
        w->par2[at] = row[2 * stream + i];
        w->apr1[at] = 0.0f;
        w->dec[i] &= keep;
    }
    for (int j = 0; j < 3; j++) {
        const size_t at = (size_t)(k + j) * W + l;
        w->sys1[at] = row[a->tail_idx[j * 2]];
        w->par1[at] = row[a->tail_idx[j * 2 + 1]];
        w->sys2[at] = row[a->tail_idx[6 + j * 2]];
        w->par2[at] = row[a->tail_idx[6 + j * 2 + 1]];
    }
}

KATTR static int KNAME(const struct turbo_args *a)
{
    const int32_t k = a->k;
    struct turbo_ws w;
    if (turbo_ws_alloc(&w, k, W) != 0)
        return TURBO_ENOMEM;
    const VT scale = V_SET1(a->scaling);

    int64_t lane_cw[W]; /* codeword in each lane, -1 when the lane is idle */
    int32_t lane_it[W];
    int64_t next = 0;
    int active = 0;
    for (int l = 0; l < W; l++) {
        lane_it[l] = 0;
        lane_cw[l] = -1;
        if (next < a->batch) {
            lane_cw[l] = next;
            JOIN(KNAME, _load)(a, &w, l, a->llr + next * (int64_t)a->n);
            next++;
            active++;
        }
    }

    while (active > 0) {
        /* -- one full iteration ----------------------------------------------------------------- */
        KSISO(w.sys1, w.par1, w.apr1, k, w.alpha, w.ext);
        uint64_t changed = 0;
        for (int32_t t = 0; t < k; t++) {
            const size_t at = (size_t)t * W;
            const VT post = V_ADD(V_ADD(V_LOAD(w.sys1 + at), V_LOAD(w.apr1 + at)), V_LOAD(w.ext + at));
            const uint64_t m = V_LTZ(post);
            changed |= m ^ w.dec[t];
            w.dec[t] = m;
        }
        for (int32_t i = 0; i < k; i++)
            V_STORE(w.apr2 + (size_t)i * W, V_MUL(scale, V_LOAD(w.ext + (size_t)a->perm[i] * W)));
        KSISO(w.sys2, w.par2, w.apr2, k, w.alpha, w.ext);
        for (int32_t i = 0; i < k; i++) {
            const size_t at = (size_t)i * W;
            const int32_t j = a->perm[i];
            const VT e = V_LOAD(w.ext + at);
            V_STORE(w.apr1 + (size_t)j * W, V_MUL(scale, e));
            const uint64_t m = V_LTZ(V_ADD(V_ADD(V_LOAD(w.sys2 + at), V_LOAD(w.apr2 + at)), e));
            changed |= m ^ w.dec[j];
            w.dec[j] = m;
        }

        /* -- which lanes stop ---------------------------------------------------------------- */
        for (int l = 0; l < W; l++) {
            if (lane_cw[l] < 0)
                continue;
            const int32_t it = ++lane_it[l];
            int conv = it > 1 && !((changed >> l) & 1u);
            if (!conv && a->crc_width > 0)
                conv = turbo_crc_lane_ok(a, &w, l);
            if (!(a->early_stop && conv) && it < a->max_iter)
                continue;
            const int64_t b = lane_cw[l];
            uint8_t *out = a->bits + b * (int64_t)k;
            for (int32_t t = 0; t < k; t++)
                out[t] = (uint8_t)((w.dec[t] >> l) & 1u);
            a->iters[b] = it;
            a->converged[b] = (uint8_t)conv;
            lane_it[l] = 0;
            if (next < a->batch) {
                lane_cw[l] = next;
                JOIN(KNAME, _load)(a, &w, l, a->llr + next * (int64_t)a->n);
                next++;
            } else {
                lane_cw[l] = -1; /* idle: keeps decoding its last codeword, unread */
                active--;
            }
        }
    }
    turbo_ws_free(&w);
    return TURBO_OK;
}

#undef ADDS
#undef KNAME
#undef KSISO
#undef KATTR
#undef W
#undef VT
#undef V_LOAD
#undef V_STORE
#undef V_SET1
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_MAX
#undef V_LTZ
