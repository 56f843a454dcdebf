# Packaging: the systemd unit checks (in `make test`).
.PHONY: packaging-check

packaging-check:
	scripts/packaging-check.sh
