# Top-level make for the fork.  QEMU itself is built by ninja in build/;
# see README.md.
#
# SPDX-License-Identifier: GPL-2.0-or-later

ifeq ($(wildcard config.mk),)
$(shell ./configure >&2)
endif
include config.mk
export TARGETS BASE_DSC BASE_SRC FORK_CACHE INSTALL_DEPS QEMU_CONFIGURE_ARGS
export QEMU_BUILD := $(CURDIR)/build

.PHONY: all check check-qtest check-baremetal check-guest check-asan \
	check-asan-models demo \
	bench fuzz fuzz-build fuzz-corpus clean distclean

all:
	@scripts/build.sh

check: all
	@scripts/check.sh all

check-qtest: all
	@scripts/check.sh qtest

check-baremetal: all
	@scripts/check.sh baremetal

check-guest: all
	@scripts/check.sh guest

demo: all
	@tests/guest/run demo

bench: all
	@scripts/bench.sh

# The tests on an ASan+UBSan build of its own (build-asan/)
check-asan:
	@scripts/check-asan.sh all

# What .ci/run adds to make check: the models' qtests on the ASan build
check-asan-models:
	@scripts/check-asan.sh models

# libFuzzer targets with ASan+UBSan (build-fuzz/), each run for FUZZ_TIME
# seconds (or FUZZ_RUNS executions); see scripts/fuzz.sh
export FUZZ_TIME FUZZ_RUNS FUZZ_TARGETS FUZZ_JOBS FUZZ_ARGS FUZZ_MALLOC_MB
fuzz: fuzz-build
	@scripts/fuzz.sh run

fuzz-build:
	@scripts/fuzz.sh build

# Minimise what the runs found into tests/fuzz/corpus/
fuzz-corpus:
	@scripts/fuzz.sh corpus

clean:
	rm -rf build .qemu-src build-ref build-fuzz build-asan

distclean: clean
	rm -f config.mk
