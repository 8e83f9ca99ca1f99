#!/usr/bin/env python3
"""Write the seed inputs of the fork's fuzz targets.

The seeds are what a fuzzer starts from: inputs that get each model past
its first fault (a valid stream table and tables, an enabled PAT with
entries, TCEs and windows), so that mutations explore translation, not
only refusal.  They are kept in tests/fuzz/corpus/TARGET/seed-NAME, beside
the minimised inputs that campaigns add (scripts/fuzz.sh corpus).

  tests/fuzz/seeds.py [DIR]     (default: tests/fuzz/corpus)

The encodings mirror the targets' input formats:
  generic-fuzz (smmuv3, ti-pat): commands separated by "FUZZ", the first
  byte an opcode (tests/qtest/fuzz/generic_fuzz.c), the operands its C
  structs as laid out on x86-64;
  spapr-tce: tests/qtest/fuzz/viommu/spapr-tce-fuzz.c's operations.
Addresses and the structures at them are those the targets build.

SPDX-License-Identifier: GPL-2.0-or-later
"""

import os
import struct
import sys

SEP = b"FUZZ"

# ---- generic-fuzz ----

OP_READ, OP_WRITE, OP_ADD_DMA_PATTERN, OP_CLEAR_DMA_PATTERNS = 2, 3, 7, 8
SIZE = {1: 0, 2: 1, 4: 2, 8: 3}


def write(region, offset, value, size=4):
    """generic-fuzz's write: u8 size, u8 region index, u32 offset, u64 value"""
    return bytes([OP_WRITE]) + struct.pack("<BBxxIQ", SIZE[size], region,
                                           offset, value)


def read(region, offset, size=4):
    return bytes([OP_READ]) + struct.pack("<BBxxI", SIZE[size], region,
                                          offset)


def dma_pattern(data, index=0, stride=0):
    """Fill what a device reads with @data, repeated"""
    return bytes([OP_ADD_DMA_PATTERN, index, stride]) + data


def generic(*cmds):
    out = SEP.join(cmds)
    for c in cmds:
        assert SEP not in c, "a command holds the separator"
    return out


# viommu-testdev registers (docs/specs/viommu-testdev.rst)
TD_DMA_ADDR, TD_LEN, TD_OP, TD_ATTR, TD_PATTERN = 0x10, 0x20, 0x24, 0x28, 0x30
TD_DOORBELL, TD_STATUS, TD_MEMTX, TD_FAULT_ADDR = 0x40, 0x44, 0x4c, 0x50
OP_DMA_READ, OP_DMA_WRITE, OP_FILL, OP_COMPARE, OP_COPY = 1, 2, 3, 4, 5
OP_ASYNC = 1 << 5


def dma(td, op, addr, length, pattern=0x11223344, extra=()):
    return [write(td, TD_DMA_ADDR, addr, 8), write(td, TD_LEN, length),
            write(td, TD_PATTERN, pattern), *extra, write(td, TD_OP, op),
            write(td, TD_DOORBELL, 1), read(td, TD_STATUS),
            read(td, TD_FAULT_ADDR, 8)]


# ---- SMMUv3 (tests/qtest/fuzz/viommu/smmuv3-fuzz.c) ----
# Regions in address order: the SMMU, the test device's registers, buffer
SMMU, TD, TDBUF = 0, 1, 2
CR0, GBPA = 0x20, 0x44
STRTAB_BASE, STRTAB_CFG = 0x80, 0x88
CMDQ_BASE, CMDQ_PROD, CMDQ_CONS = 0x90, 0x98, 0x9c
EVENTQ_BASE, EVENTQ_PROD, EVENTQ_CONS = 0xa0, 0x100a8, 0x100ac
IRQ_CTRL, GERRORN = 0x50, 0x64
SMMUEN, EVENTQEN, CMDQEN = 1, 4, 8
GBPA_ABORT, GBPA_UPDATE = 1 << 20, 1 << 31

STRTAB_S1, STRTAB_BYPASS, STRTAB_ABORT = 0x41000000, 0x41010000, 0x41020000
STRTAB_INVALID, STRTAB_S2, STRTAB_NESTED = 0x41030000, 0x41040000, 0x41050000
STRTAB_2LVL = 0x41060000
CMDQ, EVENTQ = 0x41400000, 0x41500000
DATA = 0x44000000
IOVA_RAM = 0x40000000


def smmu_enable(strtab, cfg=6):
    return [write(SMMU, STRTAB_CFG, cfg), write(SMMU, STRTAB_BASE, strtab, 8),
            write(SMMU, CMDQ_BASE, CMDQ | 6, 8), write(SMMU, CMDQ_PROD, 0),
            write(SMMU, CMDQ_CONS, 0), write(SMMU, EVENTQ_BASE, EVENTQ | 6, 8),
            write(SMMU, EVENTQ_PROD, 0), write(SMMU, EVENTQ_CONS, 0),
            write(SMMU, CR0, SMMUEN | EVENTQEN | CMDQEN)]


# Stage-1 CD and an 8-byte descriptor valid at every level, for patterns
def cd_s1(ttb0, asid=1):
    dw0 = (16 | (1 << 8) | (1 << 10) | (3 << 12) | (1 << 30) | (1 << 31) |
           (5 << 32) | (1 << 41) | (1 << 45) | (1 << 46) | (asid << 48))
    return struct.pack("<8Q", dw0, ttb0, 0, 0xff, 0, 0, 0, 0)


def ste_s1(cd):
    return struct.pack("<8Q", 1 | (5 << 1) | cd, 1 << 44, 0, 0, 0, 0, 0, 0)


def ste_raw(dw0):
    return struct.pack("<8Q", dw0, 0, 0, 0, 0, 0, 0, 0)


def desc(out):
    """Valid, table-or-page, AF, unprivileged RW, inner shareable"""
    return struct.pack("<Q", out | 0x3 | (1 << 6) | (3 << 8) | (1 << 10))


def smmuv3_seeds():
    s = {}
    s["s1"] = generic(*smmu_enable(STRTAB_S1),
                      *dma(TD, OP_FILL, 0x1000, 0x100),
                      *dma(TD, OP_DMA_READ, 0x2ff8, 0x10),
                      *dma(TD, OP_DMA_WRITE, 0x7000, 8),     # read-only page
                      *dma(TD, OP_COMPARE, 0x1000, 0x100))
    s["s1-ram"] = generic(*smmu_enable(STRTAB_S1),
                          *dma(TD, OP_FILL, IOVA_RAM + 0x4000000, 0x2000))
    s["s1-cmdq"] = generic(*smmu_enable(STRTAB_S1),
                           *dma(TD, OP_FILL, 0x3000, 0x40),
                           write(SMMU, CMDQ_PROD, 8),
                           read(SMMU, CMDQ_CONS),
                           *dma(TD, OP_FILL, 0x3000, 0x40))
    s["s1-async"] = generic(*smmu_enable(STRTAB_S1),
                            *dma(TD, OP_FILL | OP_ASYNC, 0x5000, 0x1800))
    s["bypass"] = generic(*smmu_enable(STRTAB_BYPASS),
                          *dma(TD, OP_FILL, DATA + 0x100, 0x40),
                          *dma(TD, OP_DMA_READ, DATA, 0x2000),
                          *dma(TD, OP_COMPARE, DATA + 0x100, 0x40))
    s["abort"] = generic(*smmu_enable(STRTAB_ABORT),
                         *dma(TD, OP_FILL, DATA, 8))
    s["invalid-ste"] = generic(*smmu_enable(STRTAB_INVALID),
                               *dma(TD, OP_FILL, DATA, 8),
                               read(SMMU, EVENTQ_PROD))
    s["s2"] = generic(*smmu_enable(STRTAB_S2),
                      *dma(TD, OP_FILL, DATA + 0x3000, 0x80))
    s["nested"] = generic(*smmu_enable(STRTAB_NESTED),
                          *dma(TD, OP_FILL, 0x1000, 0x80))
    s["two-level"] = generic(*smmu_enable(STRTAB_2LVL,
                                          (1 << 16) | (8 << 6) | 16),
                             *dma(TD, OP_FILL, 0x1000, 0x80))
    s["gbpa"] = generic(*dma(TD, OP_FILL, DATA, 0x40),
                        write(SMMU, GBPA, GBPA_ABORT | GBPA_UPDATE),
                        *dma(TD, OP_FILL, DATA, 0x40))
    # Tables from generic-fuzz's patterns, in the order the SMMU reads
    # them: STE, CD, then one descriptor per level
    x = 0x50001000
    s["patterns"] = generic(dma_pattern(ste_s1(0x50002000)),
                            dma_pattern(cd_s1(x)),
                            *[dma_pattern(desc(x)) for _ in range(4)],
                            *smmu_enable(0x50000000),
                            *dma(TD, OP_FILL, 0x0, 0x40))
    s["patterns-ste"] = generic(dma_pattern(ste_raw(1 | (4 << 1))),
                                *smmu_enable(0x50000000),
                                *dma(TD, OP_FILL, DATA, 0x40))
    return s


# ---- TI PAT (tests/qtest/fuzz/viommu/ti-pat-fuzz.c) ----
# Regions in address order: test device registers, buffer, MMRS, TABLE,
# window
PTD, PTDBUF, MMRS, TABLE, WINDOW = 0, 1, 2, 3, 4
WINDOW_BASE = 0x4800000000
CONTROL, EN = 0x10, 1


def entry_offset(i):
    return i // 256 * 4096 + i % 256 * 8


def entry(pa, enable=True):
    hi = ((pa >> 44) & 0xf) | (1 << 31 if enable else 0)
    return (pa >> 12 & 0xffffffff) | hi << 32


def pat_on(page_size, entries):
    cmds = [write(MMRS, CONTROL, EN | page_size << 4)]
    for i, pa in entries:
        cmds.append(write(TABLE, entry_offset(i), entry(pa), 8))
    return cmds


def ti_pat_seeds():
    s = {}
    pages = [(i, DATA + (7 - i) * 0x1000) for i in range(8)]
    s["4k"] = generic(*pat_on(0, pages),
                      *dma(PTD, OP_FILL, WINDOW_BASE + 0x1000, 0x100),
                      *dma(PTD, OP_DMA_READ, WINDOW_BASE + 0x1ff8, 0x10),
                      *dma(PTD, OP_DMA_WRITE, WINDOW_BASE + 0x3000, 0x2000),
                      write(WINDOW, 0x2010, 0x55667788),
                      read(WINDOW, 0x2010))
    s["16k"] = generic(*pat_on(1, [(0, DATA), (1, DATA + 0x10000)]),
                       *dma(PTD, OP_FILL, WINDOW_BASE + 0x3ff0, 0x20))
    s["64k"] = generic(*pat_on(2, [(0, DATA + 0x20000), (1, DATA)]),
                       *dma(PTD, OP_COMPARE, WINDOW_BASE + 0xfff8, 0x10))
    s["1m"] = generic(*pat_on(3, [(3, DATA + 0x100000)]),
                      *dma(PTD, OP_FILL, WINDOW_BASE + 0x3ffff0, 0x10))
    s["off"] = generic(write(TABLE, 0, entry(DATA), 8),
                       *dma(PTD, OP_FILL, WINDOW_BASE, 0x10))
    s["disabled-entry"] = generic(
        *pat_on(0, pages[:4]),
        write(TABLE, entry_offset(5), entry(DATA, enable=False), 8),
        *dma(PTD, OP_FILL, WINDOW_BASE + 0x4ff0, 0x20))
    s["past-table"] = generic(*pat_on(0, [(2047, DATA)]),
                              *dma(PTD, OP_FILL, WINDOW_BASE + 0x7ffff8, 0x10))
    s["into-window"] = generic(*pat_on(0, [(0, WINDOW_BASE + 0x2000)]),
                               *dma(PTD, OP_FILL, WINDOW_BASE, 0x10))
    s["async"] = generic(*pat_on(0, pages),
                         *dma(PTD, OP_FILL | OP_ASYNC, WINDOW_BASE, 0x3000))
    s["rewrite"] = generic(*pat_on(0, pages),
                           *dma(PTD, OP_FILL, WINDOW_BASE, 0x10),
                           write(TABLE, 0, entry(DATA + 0x9000), 8),
                           *dma(PTD, OP_FILL, WINDOW_BASE, 0x10),
                           write(MMRS, CONTROL, EN | 2 << 4),
                           *dma(PTD, OP_FILL, WINDOW_BASE, 0x10))
    return s


# ---- sPAPR (tests/qtest/fuzz/viommu/spapr-tce-fuzz.c) ----

(S_PUT, S_GET, S_STUFF, S_INDIRECT, S_QUERY, S_CREATE, S_REMOVE, S_RESET,
 S_SHORT, S_EEH_OPTION, S_SLOT_RESET, S_EEH_INFO, S_DMA, S_BUFFER) = range(14)
S_MACHINE_RESET, S_MIGRATE = 62, 63
DEFAULT, DDW1, DDW2, DDW3 = 0, 1, 2, 3      # LIOBN_BASE + n


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def ioba(index, within=None):
    if within is None:
        return u8(1) + u32(index)
    return u8(0x81) + u32(index) + u32(within)


def tce(page, perm=3):
    return u8(perm) + u16(page)


def put(liobn, index, page, perm=3):
    return u8(S_PUT) + u8(liobn) + ioba(index) + tce(page, perm)


def get(liobn, index):
    return u8(S_GET) + u8(liobn) + ioba(index)


def stuff(liobn, index, npages, page=None, perm=3):
    value = u8(1) if page is None else u8(0) + tce(page, perm)
    return (u8(S_STUFF) + u8(liobn) + ioba(index) + value +
            u8(1) + u16(npages))


def indirect(liobn, index, npages, page, list_mode=0, stride=1):
    return (u8(S_INDIRECT) + u8(liobn) + ioba(index) + u8(1) + u16(npages) +
            u8(list_mode) + tce(page) + u16(stride))


def query(nret=5):
    return u8(S_QUERY) + u8(nret - 5)


def create(shift_index, window_shift):
    return u8(S_CREATE) + u8(shift_index) + u8(window_shift)


def remove(liobn):
    return u8(S_REMOVE) + u8(liobn)


def eeh_option(addr_index, option):
    return u8(S_EEH_OPTION) + u8(addr_index) + u8(option)


def slot_reset(option):
    return u8(S_SLOT_RESET) + u8(option)


def eeh_state():
    return u8(S_EEH_INFO) + u8(0)


def unclaimed(off, store=False):
    # a load (or store) in the top 64 KiB of the 32-bit memory window
    return u8(S_EEH_INFO) + u8(0x80) + u16((off & ~3) | (1 if store else 0))


def sdma(op, window, index, within, length, pattern=0x01020304, asynchronous=False):
    opb = (op - 1) | (4 if asynchronous else 0)
    return (u8(S_DMA) + u8(opb) + u8(window) + u32(index) + u32(within) +
            u8(1) + u16(length - 1) + u32(pattern))


def migrate(sparse=False):
    return u8(S_MIGRATE) + u8(1 if sparse else 0)


def buffer(off, n8, seed):
    return u8(S_BUFFER) + u16(off) + u8(n8) + u32(seed)


def spapr_seeds():
    s = {}
    s["tce"] = (put(DEFAULT, 1, 5) + get(DEFAULT, 1) +
                put(DEFAULT, 2, 6, perm=1) +
                sdma(OP_FILL, DEFAULT, 1, 0x10, 0x40) +
                sdma(OP_DMA_READ, DEFAULT, 1, 0xff8, 0x10) +
                sdma(OP_DMA_WRITE, DEFAULT, 2, 0, 8) +
                buffer(0, 4, 0xa5a5a5a5) +
                sdma(OP_DMA_WRITE, DEFAULT, 1, 0x100, 0x20) +
                sdma(OP_COMPARE, DEFAULT, 1, 0x10, 0x40))
    s["bulk"] = (indirect(DEFAULT, 0, 64, 10) +
                 stuff(DEFAULT, 100, 200, page=300) +
                 sdma(OP_FILL, DEFAULT, 60, 0x800, 0x2000) +
                 sdma(OP_DMA_READ, DEFAULT, 150, 0, 0x3000) +
                 stuff(DEFAULT, 0, 400) + get(DEFAULT, 150) +
                 indirect(DEFAULT, 0, 8, 10, list_mode=0x40) +
                 indirect(DEFAULT, 0, 8, 10, list_mode=0x80))
    s["ddw"] = (query() + create(1, 30) + query(6) +
                put(DDW1, 3, 7) + sdma(OP_FILL, DDW1, 3, 0x20, 0x40) +
                sdma(OP_FILL, DEFAULT, 0, 0, 8) +
                create(0, 28) + create(2, 40) + create(3, 44) + query() +
                remove(DDW2) + create(1, 32) +
                remove(DDW1) + get(DDW1, 0) + u8(S_RESET) + query())
    s["ddw-last"] = (put(DEFAULT, 5, 9) + create(1, 32) + remove(DEFAULT) +
                     get(DEFAULT, 5) + create(0, 30) + remove(DDW1) +
                     remove(DDW2) + query() + get(DEFAULT, 5) +
                     u8(S_SHORT) + u8(1) + u8(3))
    # A DDW on the default window's LIOBN is no default window: removing
    # it last brings the default one back
    s["ddw-default-by-history"] = (create(1, 32) + remove(DEFAULT) +
                                   create(1, 30) + put(DEFAULT, 3, 7) +
                                   remove(DDW1) + remove(DEFAULT) +
                                   get(DEFAULT, 3) + query() +
                                   remove(DEFAULT) + query())
    # The OS gives the PE up (ibm,slot-error-detail 2): state 5, fenced,
    # no slot reset, until the machine resets
    s["eeh-given-up"] = (eeh_option(0, 1) + put(DEFAULT, 1, 5) +
                         u8(S_EEH_INFO) + u8(3) + u8(2) + eeh_state() +
                         slot_reset(1) + eeh_option(0, 2) +
                         sdma(OP_FILL, DEFAULT, 1, 0, 8) +
                         u8(S_MACHINE_RESET) + eeh_state() +
                         sdma(OP_FILL, DEFAULT, 1, 0, 8))
    # A load no BAR claims: nothing with EEH off, a freeze with it on
    s["eeh-unclaimed"] = (put(DEFAULT, 1, 5) + unclaimed(0x100) +
                          sdma(OP_FILL, DEFAULT, 1, 0, 8) +
                          eeh_option(0, 1) + unclaimed(0x200) +
                          unclaimed(0x300, store=True) +
                          eeh_option(0, 2) + eeh_option(0, 3) +
                          unclaimed(0x400, store=True) + eeh_option(0, 2) +
                          sdma(OP_FILL, DEFAULT, 1, 0, 8))
    s["eeh"] = (eeh_option(0, 1) + put(DEFAULT, 1, 5) +
                sdma(OP_FILL, DEFAULT, 1, 0, 8) + eeh_state() +
                sdma(OP_FILL, DEFAULT, 9, 0, 8) + eeh_state() +
                eeh_option(0, 3) + eeh_option(0, 2) +
                sdma(OP_FILL, DEFAULT, 1, 0, 8) + eeh_option(0, 3) +
                sdma(OP_FILL, DEFAULT, 1, 8, 8) +
                u8(S_EEH_INFO) + u8(1) + u8(0) + u8(S_EEH_INFO) + u8(3) + u8(1))
    s["eeh-slot-reset"] = (eeh_option(1, 1) + put(DEFAULT, 2, 5, perm=1) +
                           sdma(OP_FILL, DEFAULT, 2, 0, 8) + slot_reset(2) +
                           slot_reset(1) + eeh_state() + slot_reset(0) +
                           u8(S_EEH_INFO) + u8(2) +
                           sdma(OP_DMA_READ, DEFAULT, 2, 0, 8) +
                           eeh_option(0, 0))
    s["migrate"] = (put(DEFAULT, 1, 5) + create(1, 30) + put(DDW1, 4, 8) +
                    stuff(DDW1, 16, 600, page=40) + buffer(0x100, 2, 7) +
                    migrate() + get(DEFAULT, 1) + get(DDW1, 4) +
                    get(DDW1, 300) + sdma(OP_FILL, DDW1, 4, 0, 0x20) +
                    eeh_option(0, 1) + sdma(OP_FILL, DEFAULT, 7, 0, 8) +
                    migrate(sparse=True) + eeh_state())
    s["reset-async"] = (put(DEFAULT, 1, 5) +
                        sdma(OP_FILL, DEFAULT, 1, 0, 0x800,
                             asynchronous=True) +
                        u8(S_MACHINE_RESET) + get(DEFAULT, 1) + query())
    return s


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    for target, seeds in (("smmuv3", smmuv3_seeds()),
                          ("ti-pat", ti_pat_seeds()),
                          ("spapr-tce", spapr_seeds())):
        d = os.path.join(top, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            assert len(data) <= 4096, f"{target}/{name} is too long"
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
