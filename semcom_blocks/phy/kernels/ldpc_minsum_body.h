/*
 * The layered min-sum decoder, written once for every (instruction set, precision) pair: the
 * including file defines the names below and includes this file once per pair
 * (ldpc_minsum.c). Not a public header.
 *
 * Expected definitions:
 *   KNAME          name of the function to define
 *   KATTR          function attributes (the target instruction set)
 *   W              lanes (codewords side by side)
 *   T              element type (float or int8_t)
 *   VT             vector type of W elements of T
 *   V_LOAD(p)      aligned load of W elements;  V_STORE(p, v) aligned store
 *   V_ZERO         all lanes 0
 *   V_INIT_MIN     the start of a running minimum (+inf, or the largest magnitude)
 *   V_XOR(a, b), V_MIN(a, b), V_MAX(a, b)
 *   V_GATHER(post, msg, fresh)   post - msg, msg taken as 0 in lanes where fresh is all-ones
 *   V_ABS(v)       |v|
 *   V_SEL_LT(a, b, x, y)         lane-wise a < b ? x : y
 *   V_SEL_EQ(a, b, x, y)         lane-wise a == b ? x : y
 *   V_SCALE(v)     alpha * max(v - offset, 0) in the precision's arithmetic (may use `prm`)
 *   V_SIGNED(mag, s)             mag (>= 0) negated in lanes where s's sign bit is set
 *   V_POST(v, r)   v + r, the new posterior (int8: clamped to +-I8_POST_MAX)
 *   V_MSG(p, v, r) the message to store: r (float32); p - v for int8, so that the posterior stays
 *                  exactly the channel value plus the stored messages even when clamped
 *   V_SIGNBITS(v)  uint64_t with bit l = sign bit of lane l
 *   LOAD_LANE(post, l, llr_row, n, prm, tmp)   put one codeword's channel LLRs in lane l
 *
 * Messages live edge-major: msg[e * W + l] is edge e's check message of lane l; posteriors
 * post[v * W + l]. Each lane runs exactly the sequence of operations of the scalar algorithm
 * on its own codeword, so lanes never interact.
 */

KATTR static int KNAME(const struct kernel_args *a, const void *prm_ptr)
{
    const PRM_T *prm = (const PRM_T *)prm_ptr;
    const int32_t n = a->n, m = a->m;
    const int32_t *row_ptr = a->row_ptr, *col_idx = a->col_idx;
    const int64_t edges = row_ptr[m];
    const int32_t max_deg = a->max_deg;

    /* Workspace, every region a whole number of vectors (so each stays vector-aligned):
     * post (n W), msg (edges W), t (max_deg W), idx (max_deg W: lane-uniform edge positions
     * 0, 1, ... of a row), fresh (W); then signs (n words) and tmp (n elements). */
    const size_t vbytes = (size_t)W * sizeof(T);
    const size_t total = vbytes * ((size_t)n + (size_t)edges + 2 * (size_t)max_deg + 1)
                         + sizeof(uint64_t) * (size_t)n + sizeof(T) * (size_t)n;
    unsigned char *ws = ldpc_alloc(total);
    if (!ws)
        return LDPC_ENOMEM;
    T *post = (T *)ws;
    T *msg = post + (size_t)n * W;
    T *t = msg + (size_t)edges * W;
    T *idx = t + (size_t)max_deg * W;
    T *fresh = idx + (size_t)max_deg * W;
    uint64_t *signs = (uint64_t *)(fresh + W);
    T *tmp = (T *)(signs + n);
    (void)tmp; /* used by the int8 lane loader only */
    for (int32_t i = 0; i < max_deg; i++)
        for (int l = 0; l < W; l++)
            idx[(size_t)i * W + l] = (T)i;
    /* Messages start at 0 without clearing msg: every lane starts fresh (its messages read as 0
     * in its first iteration, which overwrites every edge). Idle lanes decode posteriors of 0. */
    memset(post, 0, (size_t)n * vbytes);
    set_all_ones(fresh, vbytes);

    int64_t lane_cw[W];   /* codeword in each lane, -1 when the lane is idle */
    int32_t lane_it[W];
    int64_t next = 0;
    int active = 0;
    for (int l = 0; l < W; l++) {
        lane_it[l] = 0;
        lane_cw[l] = -1;
        if (next < a->batch) {
            lane_cw[l] = next;
            LOAD_LANE(post, l, a->llr + next * (int64_t)n, n, prm, tmp);
            next++;
            active++;
        }
    }

    while (active > 0) {
        const VT vfresh = V_LOAD(fresh);
        /* -- one iteration: every check row in order -------------------------------------- */
        for (int32_t r = 0; r < m; r++) {
            const int32_t e0 = row_ptr[r];
            const int32_t deg = row_ptr[r + 1] - e0;
            const int32_t *cols = col_idx + e0;
            T *mrow = msg + (size_t)e0 * W;
            VT min1 = V_INIT_MIN, min2 = V_INIT_MIN, arg = V_ZERO, sgn = V_ZERO;
            for (int32_t i = 0; i < deg; i++) {
                const VT v = V_GATHER(V_LOAD(post + (size_t)cols[i] * W), V_LOAD(mrow + (size_t)i * W), vfresh);
                V_STORE(t + (size_t)i * W, v);
                const VT mag = V_ABS(v);
                sgn = V_XOR(sgn, v);
                arg = V_SEL_LT(mag, min1, V_LOAD(idx + (size_t)i * W), arg);
                min2 = V_MIN(min2, V_MAX(min1, mag));
                min1 = V_MIN(min1, mag);
            }
            min1 = V_SCALE(min1);
            min2 = V_SCALE(min2);
            for (int32_t i = 0; i < deg; i++) {
                const VT v = V_LOAD(t + (size_t)i * W);
                const VT mag = V_SEL_EQ(arg, V_LOAD(idx + (size_t)i * W), min2, min1);
                const VT rnew = V_SIGNED(mag, V_XOR(v, sgn));
                const VT pnew = V_POST(v, rnew);
                V_STORE(mrow + (size_t)i * W, V_MSG(pnew, v, rnew));
                V_STORE(post + (size_t)cols[i] * W, pnew);
            }
        }
        memset(fresh, 0, vbytes);

        /* -- which lanes stop ---------------------------------------------------------------- */
        uint64_t need = 0;  /* lanes whose syndrome is needed now */
        for (int l = 0; l < W; l++) {
            if (lane_cw[l] < 0)
                continue;
            lane_it[l]++;
            if (a->early_stop || lane_it[l] >= a->max_iter)
                need |= (uint64_t)1 << l;
        }
        if (!need)
            continue;
        uint64_t bad = 0;  /* lanes with an unsatisfied check */
        for (int32_t r = 0; r < m; r++) {
            VT p = V_ZERO;
            for (int32_t e = row_ptr[r]; e < row_ptr[r + 1]; e++)
                p = V_XOR(p, V_LOAD(post + (size_t)col_idx[e] * W));
            bad |= V_SIGNBITS(p);
            if ((r & 7) == 7 && (bad & need) == need)
                break;  /* every lane that asked already fails: no lane stops here */
        }
        uint64_t stop = 0;
        for (int l = 0; l < W; l++) {
            const uint64_t bit = (uint64_t)1 << l;
            if (!(need & bit))
                continue;
            if ((a->early_stop && !(bad & bit)) || lane_it[l] >= a->max_iter)
                stop |= bit;
        }
        if (!stop)
            continue;
        for (int32_t v = 0; v < n; v++)
            signs[v] = V_SIGNBITS(V_LOAD(post + (size_t)v * W));
        for (int l = 0; l < W; l++) {
            const uint64_t bit = (uint64_t)1 << l;
            if (!(stop & bit))
                continue;
            const int64_t b = lane_cw[l];
            uint8_t *h = a->hard + b * (int64_t)n;
            for (int32_t v = 0; v < n; v++)
                h[v] = (uint8_t)((signs[v] >> l) & 1u);
            a->iters[b] = lane_it[l];
            a->ok[b] = (uint8_t)!(bad & bit);
            lane_it[l] = 0;
            if (next < a->batch) {
                lane_cw[l] = next;
                LOAD_LANE(post, l, a->llr + next * (int64_t)n, n, prm, tmp);
                set_all_ones(fresh + l, sizeof(T));
                next++;
            } else {
                lane_cw[l] = -1;
                active--;
            }
        }
    }
    ldpc_free(ws);
    return LDPC_OK;
}

#undef KNAME
#undef KATTR
#undef W
#undef T
#undef VT
#undef PRM_T
#undef V_LOAD
#undef V_STORE
#undef V_ZERO
#undef V_INIT_MIN
#undef V_XOR
#undef V_MIN
#undef V_MAX
#undef V_GATHER
#undef V_ABS
#undef V_SEL_LT
#undef V_SEL_EQ
#undef V_SCALE
#undef V_SIGNED
#undef V_POST
#undef V_MSG
#undef V_SIGNBITS
#undef LOAD_LANE
