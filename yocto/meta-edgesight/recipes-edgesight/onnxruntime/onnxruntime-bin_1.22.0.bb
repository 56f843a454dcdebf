SUMMARY = "ONNX Runtime CPU library for edgesight (prebuilt, from the PyPI wheel)"
DESCRIPTION = "libonnxruntime.so from Microsoft's manylinux aarch64 wheel, installed where \
               edgesight looks for it (/usr/lib/edgesight). edgesight loads it at run time for \
               its ONNX CPU path; only the C library is installed, not the Python package."
HOMEPAGE = "https://onnxruntime.ai"
BUGTRACKER = "https://github.com/microsoft/onnxruntime/issues"
SECTION = "libs"
LICENSE = "MIT"
LIC_FILES_CHKSUM = "file://onnxruntime/LICENSE;md5=0f7e3b1308cb5c00b372a6e78835732d"
CVE_PRODUCT = "microsoft:onnxruntime"

# 1.22.0: the aarch64 build edgesight's smoke test runs (scripts/aarch64-smoke.sh) with
# detections identical to the x86 reference; it needs GLIBC 2.27. The wheel is a zip: the
# download name makes bitbake unpack it as one.
SRC_URI = "https://files.pythonhosted.org/packages/3e/8b/22989f6b59bc4ad1324f07a945c80b9ab825f0a581ad7a6064b93716d9b7/onnxruntime-${PV}-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl;downloadfilename=onnxruntime-${PV}-aarch64.zip;subdir=${BP}"
SRC_URI[sha256sum] = "fef17d665a917866d1f68f09edc98223b9a27e6cb167dec69da4c66484ad12fd"

# See edgesight_0.1.0.bb: UNPACKDIR from walnascar on, WORKDIR before.
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/${BP}"

# Prebuilt for aarch64 only (the Jetson machines).
COMPATIBLE_HOST = "aarch64.*-linux"

# Nothing to configure or build.
do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${nonarch_libdir}/edgesight
    # Under the name edgesight opens (dlopen), as a file: an unversioned .so symlink would be
    # development material to the QA checks.
    install -m 0755 ${S}/onnxruntime/capi/libonnxruntime.so.${PV} ${D}${nonarch_libdir}/edgesight/libonnxruntime.so
    install -d ${D}${datadir}/licenses/${BPN}
    install -m 0644 ${S}/onnxruntime/ThirdPartyNotices.txt ${D}${datadir}/licenses/${BPN}/
}

FILES:${PN} += "${nonarch_libdir}/edgesight ${datadir}/licenses/${BPN}"

# Microsoft ships it stripped: there is nothing to strip or split off.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
# edgesight's private copy: not offered to other packages' shared-library dependencies.
PRIVATE_LIBS = "libonnxruntime.so.1"
