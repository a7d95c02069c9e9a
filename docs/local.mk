# Packaging (issue 10): man pages keelson(8) and keelson.yaml(5), the
# example configuration, and the tests that keep them honest. The binary,
# the plugins ($(pkglibdir)) and the SDK header install from their own
# fragments.
dist_man_MANS = docs/man/keelson.8 docs/man/keelson.yaml.5

exampledir = $(docdir)/examples
dist_example_DATA = docs/examples/keelson.yaml

# demo-once: the README's main command (scripts/demo --once) against this
# build, end to end with the real plugins (about 30 s).
PACKAGING_TESTS = \
	tests/deploy/man-check.sh \
	tests/deploy/install-check.sh \
	tests/deploy/demo-once.sh
TESTS += $(PACKAGING_TESTS)
dist_noinst_SCRIPTS += $(PACKAGING_TESTS)
