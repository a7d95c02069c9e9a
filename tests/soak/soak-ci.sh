#!/bin/sh
# The soak runner's fixed CI seeds (make check): two seeds, one short
# sequence each, simulated time x40. Each covers good and bad commits, API
# faults (500, 429, 409 conflicts on the leader election's Lease, dropped
# watches), a Git server outage and SIGKILLs of keelson run; a longer run is
# `make soak` (tests/soak/README.md).
set -u
here=${top_srcdir:-.}/tests/soak
for seed in ${SOAK_CI_SEEDS:-7 5}; do
	bash "$here/soak.sh" --seed "$seed" --sequences 1 --steps 5 --clock-factor 40 || exit $?
done
