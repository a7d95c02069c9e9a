# Benchmarks: bench/run runs every benchmark from a plain (non-sanitizer)
# build and prints one table of figures against the issue-12 targets. The
# benchmark programs themselves are built by their modules' fragments.
EXTRA_DIST += bench/run bench/idle-cost.sh bench/apply-vs-kubectl.sh bench/README.md bench/RESULTS.md

keelson_bench_binaries = bench/layout-load$(EXEEXT) bench/kubesim-get$(EXEEXT) \
	tests/diff/bench-diff$(EXEEXT) kubesim$(EXEEXT) keelson$(EXEEXT)

# Never a timed test: `make bench` runs the figures by hand. bench/run
# refuses a sanitizer build, whose figures would mean nothing.
.PHONY: bench
bench: $(keelson_bench_binaries)
	bash $(srcdir)/bench/run --build-dir . --no-build

# Only checks that the script parses its options and documents them.
TESTS += bench/run-help.sh
EXTRA_DIST += bench/run-help.sh
