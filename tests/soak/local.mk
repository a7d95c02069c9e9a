# Soak under faults (tests/soak/README.md): random commit sequences against
# kubesim with API faults, Git server outages and SIGKILLs of keelson run.
# `make check` runs a short fixed set of seeds (soak-ci.sh); `make soak`
# runs a longer loop:
#   make soak SOAK_SEEDS="1 2 3" SOAK_SEQUENCES=5 SOAK_STEPS=6

TESTS += tests/soak/soak-ci.sh
EXTRA_DIST += tests/soak/README.md tests/soak/soak.sh tests/soak/soak-ci.sh tests/soak/soak-loop.sh

SOAK_SEEDS = 101 102 103 104 105 106 107 108
SOAK_SEQUENCES = 4
SOAK_STEPS = 6
SOAK_CLOCK_FACTOR = 40

.PHONY: soak
soak: all
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' KUBECTL='$(KUBECTL)' \
	$(SHELL) '$(abs_top_srcdir)/tests/soak/soak-loop.sh' \
		--seeds '$(SOAK_SEEDS)' --sequences '$(SOAK_SEQUENCES)' --steps '$(SOAK_STEPS)' \
		--clock-factor '$(SOAK_CLOCK_FACTOR)'
