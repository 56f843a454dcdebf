SUMMARY = "edgesight video analytics service"
DESCRIPTION = "Captures camera video with GStreamer, runs an object detector (ONNX Runtime on \
               the CPU, TensorRT on Jetson) and emits detection events, metrics and health, as \
               a supervised systemd service."
HOMEPAGE = "https://github.com/edgesight/edgesight"
BUGTRACKER = "https://github.com/edgesight/edgesight/issues"
SECTION = "multimedia"
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://LICENSE;md5=3b83ef96387f14655fc854ddc3c6bd57"
CVE_PRODUCT = "edgesight"

# gstreamer1.0-rtsp-server: libgstrtspserver, linked for the [visualise] RTSP mounts.
DEPENDS += "gstreamer1.0 gstreamer1.0-plugins-base gstreamer1.0-rtsp-server"

# The source: override EDGESIGHT_GIT_URI / SRCREV in local.conf or the kas file for a fork.
EDGESIGHT_GIT_URI ?= "git://github.com/edgesight/edgesight.git;protocol=https;branch=main"
SRC_URI = "${EDGESIGHT_GIT_URI};destsuffix=${BP}"
SRCREV = "33d2853b607af7f660c79caa1a73fccb0bc79292"

# UNPACKDIR exists from walnascar on; scarthgap unpacks into WORKDIR. (A "UNPACKDIR ??=
# WORKDIR" fallback would break walnascar.) An explicit destsuffix gives the same directory
# name everywhere (whinlatter and later default to ${BP}, older releases to "git").
S = "${@d.getVar('UNPACKDIR') or d.getVar('WORKDIR')}/${BP}"

# Cargo.toml's rust-version (tests/yocto_layer.rs keeps the two equal). oe-core's own Rust is
# 1.75 in scarthgap, 1.84 in walnascar, 1.90 in whinlatter and 1.94 in wrynose: older releases
# need a layer that brings a newer Rust and sets RUSTVERSION (yocto/README.md). base.bbclass
# skips the recipe at parse time with this reason, which beats a cargo error deep in do_compile.
EDGESIGHT_MIN_RUST = "1.92"
EDGESIGHT_RUST = "${@(d.getVar('RUSTVERSION') or '0').rstrip('%')}"
SKIP_RECIPE[edgesight] = "${@'' if bb.utils.vercmp_string_op(d.getVar('EDGESIGHT_RUST'), d.getVar('EDGESIGHT_MIN_RUST'), '>=') else \
    'needs Rust >= ${EDGESIGHT_MIN_RUST} (Cargo.toml rust-version) but RUSTVERSION is ${EDGESIGHT_RUST}: build with Yocto 6.0 wrynose or later, or add a layer that provides a newer Rust (yocto/README.md)'}"

inherit cargo cargo-update-recipe-crates pkgconfig systemd useradd

# Every crate of Cargo.lock, fetched by bitbake (scripts/gen-crates-inc.py writes this file).
require ${BPN}-crates.inc

# CUDA preprocessing (model.preprocess = "cuda"): the cargo feature for this layer's CUDA (meta-tegra
# wrynose: CUDA 13.2, Orin). The libraries are loaded at run time, so they are runtime
# dependencies only: libcuda from L4T and NVRTC (docs/ops/jetson_cuda.md).
PACKAGECONFIG[cuda] = "--features cuda-13,,,cuda-nvrtc tegra-libraries-cuda"
# The whole GPU path: CUDA preprocessing, TensorRT engines and NVMM capture (cargo feature
# `jetson-13`: CUDA 13, TensorRT 10.16 of meta-tegra wrynose). The shim compiles against the
# sysroot's TensorRT headers (tensorrt-core's NvInfer.h); libnvinfer is loaded at run time.
PACKAGECONFIG ??= ""
export EDGESIGHT_TENSORRT_INCLUDE = "${@bb.utils.contains('PACKAGECONFIG', 'jetson', '${STAGING_INCDIR}', '', d)}"
PACKAGECONFIG[jetson] = "--features jetson-13,,cuda-cudart cuda-nvrtc tensorrt-core tegra-libraries-multimedia-utils,cuda-cudart cuda-nvrtc tegra-libraries-cuda gstreamer1.0-plugins-nvarguscamerasrc gstreamer1.0-plugins-nvvidconv tegra-libraries-multimedia-utils tensorrt-core"

USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system render"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/edgesight --no-create-home \
                       --shell ${base_sbindir}/nologin --user-group --groups video,render edgesight"

do_install:append() {
    install -d ${D}${sysconfdir}/edgesight/conf.d
    install -m 0644 ${S}/configs/edgesight.toml ${D}${sysconfdir}/edgesight/edgesight.toml
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/edgesight.service ${D}${systemd_system_unitdir}/edgesight.service
    install -d ${D}${nonarch_libdir}/sysusers.d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/systemd/edgesight.sysusers ${D}${nonarch_libdir}/sysusers.d/edgesight.conf
    install -m 0644 ${S}/systemd/edgesight.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/edgesight.conf
    install -d ${D}${datadir}/edgesight/models
    install -m 0644 ${S}/models/*.onnx ${S}/models/*.txt ${S}/models/*.md ${D}${datadir}/edgesight/models/
    install -d ${D}${docdir}/edgesight
    install -m 0644 ${S}/docs/ops/ops_runbook.md ${D}${docdir}/edgesight/ops_runbook.md
}

FILES:${PN} += "\
    ${nonarch_libdir}/sysusers.d/edgesight.conf \
    ${nonarch_libdir}/tmpfiles.d/edgesight.conf \
    ${systemd_system_unitdir}/edgesight.service \
"

# Edits to the configuration survive package upgrades.
CONFFILES:${PN} = "${sysconfdir}/edgesight/edgesight.toml"

# ONNX Runtime, opened at run time from /usr/lib/edgesight (so no shlib dependency), and the
# GStreamer elements edgesight's pipelines use.
RDEPENDS:${PN} = "\
    gstreamer1.0-libav \
    gstreamer1.0-plugins-bad-videoparsersbad \
    gstreamer1.0-plugins-base-app \
    gstreamer1.0-plugins-base-playback \
    gstreamer1.0-plugins-base-typefindfunctions \
    gstreamer1.0-plugins-base-videoconvertscale \
    gstreamer1.0-plugins-base-videorate \
    gstreamer1.0-plugins-base-videotestsrc \
    gstreamer1.0-plugins-good-isomp4 \
    gstreamer1.0-plugins-good-jpeg \
    gstreamer1.0-plugins-good-png \
    gstreamer1.0-plugins-good-rtp \
    gstreamer1.0-plugins-good-rtpmanager \
    gstreamer1.0-plugins-good-rtsp \
    gstreamer1.0-plugins-good-udp \
    gstreamer1.0-plugins-good-video4linux2 \
    onnxruntime-bin \
"

# [visualise] (off in production) encodes with x264enc (plugins-ugly: an image that wants it accepts
# LICENSE_FLAGS "commercial") and writes .mkv with matroskamux; without them it reports the missing
# element when configured.
RRECOMMENDS:${PN} = "gstreamer1.0-plugins-ugly-x264 gstreamer1.0-plugins-good-matroska"

SYSTEMD_SERVICE:${PN} = "edgesight.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"
