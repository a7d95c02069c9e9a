# Fuzz targets, limits and security tests (issue 11)
