/*
 * The fork's additions to the SpaprTceTable API of include/hw/ppc/spapr.h
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_PPC_SPAPR_TCE_H
#define HW_PPC_SPAPR_TCE_H

#include "hw/ppc/spapr.h"
#include "hw/ppc/spapr_tce_store.h"

/*
 * What a converter from or to another representation of the table (a
 * flat array, such as upstream's migration stream carries) needs: every
 * TCE that is set, in increasing index order, and one TCE written as a
 * hypercall would write it, UNMAP and MAP notifications included.  The
 * write fails, changing nothing, for an index outside the window or
 * when there is no memory to keep the TCE.  BQL held.
 */
void spapr_tce_table_foreach(SpaprTceTable *tcet, SpaprTceVisit *fn,
                             void *opaque);
bool spapr_tce_table_write(SpaprTceTable *tcet, uint64_t index, uint64_t tce);

/*
 * The most TCEs a DDW may have on @spapr (hw/ppc/spapr_rtas_ddw.c); an
 * incoming migration holds windows to it too
 */
uint64_t spapr_ddw_max_tces(SpaprMachineState *spapr);

#endif
