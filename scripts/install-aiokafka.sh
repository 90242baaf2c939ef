#!/usr/bin/env bash
# The old name of scripts/install-python-peers.sh, which installs aiokafka and confluent-kafka (librdkafka)
# into .tools/python for the interoperability tests.
exec bash "$(dirname "$0")/install-python-peers.sh" "$@"
