/*
 * Entry and exception vectors of the bare-metal test programs
 *
 * QEMU enters an ELF image at its entry point on every CPU that is not
 * held powered off: at EL1 on a plain virt (the secondaries wait for PSCI
 * CPU_ON), at EL3 on virt,secure=on (all CPUs start here).  Each CPU
 * takes the stack of its MPIDR Aff0, enables FP and SIMD at its EL and
 * calls bm_main(cpu); a CPU that PSCI turns on enters at bm_secondary
 * with its number in x0 and calls bm_secondary_main(cpu).
 *
 * Copyright (c) 2026 The viommu-qemu authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#define STACK_SIZE  0x4000

    .section .text.start, "ax"
    .global _start
_start:
    mrs     x0, mpidr_el1
    and     x0, x0, #0xff
    bl      cpu_setup
    bl      bm_main
    b       bm_halt

    .global bm_secondary
bm_secondary:
    bl      cpu_setup
    bl      bm_secondary_main
    b       bm_halt

/* x0: CPU number, kept.  Sets SP, VBAR and the FP/SIMD enables. */
cpu_setup:
    cmp     x0, #BM_MAX_CPUS
    b.hs    bm_halt
    adrp    x1, bm_stacks
    add     x1, x1, :lo12:bm_stacks
    add     x2, x0, #1
    mov     x3, #STACK_SIZE
    madd    x1, x2, x3, x1
    mov     sp, x1
    adrp    x1, bm_vectors
    add     x1, x1, :lo12:bm_vectors
    mrs     x2, CurrentEL
    cmp     x2, #(3 << 2)
    b.eq    1f
    msr     vbar_el1, x1
    mov     x1, #(3 << 20)          /* CPACR_EL1.FPEN: no trap */
    msr     cpacr_el1, x1
    b       2f
1:  msr     vbar_el3, x1
    msr     cptr_el3, xzr           /* no FP/SIMD trap to EL3 */
    msr     vbar_el1, x1            /* for the Non-secure EL1 a test enters */
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
2:  isb
    ret

    .global bm_halt
bm_halt:
    wfe
    b       bm_halt

/* 16 entries of 0x80: each saves x0-x1 and calls bm_exception(kind) */
.macro vector kind
    .balign 0x80
    stp     x0, x1, [sp, #-16]!
    mov     x0, #\kind
    b       vector_common
.endm

    .balign 0x800
    .global bm_vectors
bm_vectors:
    vector 0
    vector 1
    vector 2
    vector 3
    vector 4
    vector 5
    vector 6
    vector 7
    vector 8
    vector 9
    vector 10
    vector 11
    vector 12
    vector 13
    vector 14
    vector 15

/*
 * bm_exception() returns only for an exception a test expected; it has
 * moved ELR past the faulting instruction.  x0 and x1 come back from the
 * stack; the C handler saved what else it uses.
 */
vector_common:
    stp     x2, x3, [sp, #-16]!
    stp     x4, x5, [sp, #-16]!
    stp     x6, x7, [sp, #-16]!
    stp     x8, x9, [sp, #-16]!
    stp     x10, x11, [sp, #-16]!
    stp     x12, x13, [sp, #-16]!
    stp     x14, x15, [sp, #-16]!
    stp     x16, x17, [sp, #-16]!
    stp     x18, x30, [sp, #-16]!
    bl      bm_exception
    ldp     x18, x30, [sp], #16
    ldp     x16, x17, [sp], #16
    ldp     x14, x15, [sp], #16
    ldp     x12, x13, [sp], #16
    ldp     x10, x11, [sp], #16
    ldp     x8, x9, [sp], #16
    ldp     x6, x7, [sp], #16
    ldp     x4, x5, [sp], #16
    ldp     x2, x3, [sp], #16
    ldp     x0, x1, [sp], #16
    eret

    .bss
    .balign 16
    .global bm_stacks
bm_stacks:
    .space  STACK_SIZE * BM_MAX_CPUS
