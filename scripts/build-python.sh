#!/bin/sh
# Placeholder until packages/python exists: builds nothing.
exit 0
