# The README's two commands on a fresh minimal Debian 12 (in CI; needs root).
.PHONY: fresh-check

fresh-check:
	scripts/fresh-check.sh
