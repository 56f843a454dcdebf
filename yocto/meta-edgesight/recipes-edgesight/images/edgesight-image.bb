SUMMARY = "A minimal image that boots into the edgesight service"
DESCRIPTION = "core-image-minimal plus edgesight, its GStreamer plugins and ssh access for \
               field technicians."
HOMEPAGE = "https://github.com/edgesight/edgesight"
BUGTRACKER = "https://github.com/edgesight/edgesight/issues"
SECTION = "images"
LICENSE = "MIT"
CVE_PRODUCT = "edgesight"

# edgesight is a systemd service (Type=notify, watchdog).
REQUIRED_DISTRO_FEATURES = "systemd"

IMAGE_FEATURES += "ssh-server-dropbear"
IMAGE_INSTALL = "packagegroup-core-boot edgesight ${CORE_IMAGE_EXTRA_INSTALL}"

inherit core-image features_check
