#!/bin/sh
# Placeholder while being written.
exit 77
