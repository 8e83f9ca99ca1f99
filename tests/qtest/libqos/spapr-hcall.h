/*
 * Hypercalls from a qtest, through the fork's "rtas x-hcall" command
 *
 * x-hcall takes the hypercall number and its arguments as 64-bit values in
 * guest memory, makes the call on the first vCPU, and leaves r3 (the
 * return code) and the values after it in guest memory too (see patch
 * "hw/ppc/spapr_rtas: let qtests make hypercalls").
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef QTEST_LIBQOS_SPAPR_HCALL_H
#define QTEST_LIBQOS_SPAPR_HCALL_H

#include "libqtest.h"

/* PAPR hypercalls and return codes the TCE tests use */
#define H_SUCCESS           0
#define H_PARAMETER         (-4)
#define H_NOT_ENOUGH_RESOURCES (-44)
#define H_P4                (-57)
#define H_GET_TCE           0x1c
#define H_PUT_TCE           0x20
#define H_STUFF_TCE         0x138
#define H_PUT_TCE_INDIRECT  0x13c

/*
 * Make hypercall @op with the @n values of @in, staging them at guest
 * address @args and the results at @rets (room for 1 + @nout values each
 * way).  Returns the return code; the values after it go to @out.
 */
static inline int64_t qtest_spapr_hcall(QTestState *qts, uint64_t args,
                                        uint64_t rets, uint64_t op, int n,
                                        const uint64_t *in, uint64_t *out,
                                        int nout)
{
    qtest_writeq(qts, args, op);
    for (int i = 0; i < n; i++) {
        qtest_writeq(qts, args + 8 * (i + 1), in[i]);
    }
    g_assert_cmpuint(qtest_rtas_call(qts, "x-hcall", n + 1, args, nout + 1,
                                     rets), ==, 0);
    for (int i = 0; i < nout; i++) {
        out[i] = qtest_readq(qts, rets + 8 * (i + 1));
    }
    return qtest_readq(qts, rets);
}

/*
 * The same through "rtas x-hcall-timed": the host nanoseconds the call
 * itself took go to @ns.
 */
static inline int64_t qtest_spapr_hcall_timed(QTestState *qts, uint64_t args,
                                              uint64_t rets, uint64_t op,
                                              int n, const uint64_t *in,
                                              uint64_t *ns)
{
    qtest_writeq(qts, args, op);
    for (int i = 0; i < n; i++) {
        qtest_writeq(qts, args + 8 * (i + 1), in[i]);
    }
    g_assert_cmpuint(qtest_rtas_call(qts, "x-hcall-timed", n + 1, args, 2,
                                     rets), ==, 0);
    *ns = qtest_readq(qts, rets + 8);
    return qtest_readq(qts, rets);
}

#endif
