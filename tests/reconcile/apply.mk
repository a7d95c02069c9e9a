# Apply requests (keelson issue 12): one server-side apply per new object,
# keelson's labels included; the upgrade from labels applied apart by
# field manager keelson-ownership (helper "apply").
TESTS += tests/reconcile/apply-requests-kubesim.sh
EXTRA_DIST += tests/reconcile/apply-requests-kubesim.sh
