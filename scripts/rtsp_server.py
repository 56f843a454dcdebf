#!/usr/bin/python3
"""A real RTSP server for edgesight's tests (gst-rtsp-server through Debian's GI bindings).

Serves, on 127.0.0.1:PORT:
  /test  a live test pattern (320x240, 15 FPS) as H.264
  /clip  the bundled clip (media/vtest_h264.mp4) as H.264, from the file
With --user and --password, both mounts require authentication with those credentials
(--auth basic, the default, or digest; a client without them, or with others, gets 401
Unauthorized); without them anyone may play. --protocols tcp or udp makes the server answer
only that RTP transport (SETUP for the other gets 461 Unsupported Transport), as many cameras
and restreamers do; the default offers both. Prints "READY <port>" once listening. SIGUSR1
pauses every media pipeline (the camera stops sending but keeps the session open: a stall),
SIGUSR2 resumes; SIGTERM/SIGINT exit.

Needs Debian's /usr/bin/python3 with python3-gi, gir1.2-gst-rtsp-server-1.0 and
gstreamer1.0-plugins-ugly (x264enc): `make test-deps` installs them.
"""
import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--clip", default=os.path.join(ROOT, "media", "vtest_h264.mp4"))
    ap.add_argument("--user", help="require authentication as this user (with --password)")
    ap.add_argument("--password", help="the password of --user (any characters, taken as written)")
    ap.add_argument("--auth", choices=["basic", "digest"], default="basic", help="authentication method with --user")
    ap.add_argument("--protocols", choices=["all", "tcp", "udp"], default="all", help="RTP transports the server accepts")
    args = ap.parse_args()
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    medias = []

    def configured(_factory, media):
        medias.append(media)

    permissions = None
    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", "media.factory.access", True)
        permissions.add_permission_for_role("viewer", "media.factory.construct", True)

    protocols = {
        "all": GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.UDP_MCAST | GstRtsp.RTSPLowerTrans.TCP,
        "tcp": GstRtsp.RTSPLowerTrans.TCP,
        "udp": GstRtsp.RTSPLowerTrans.UDP,
    }[args.protocols]

    test = GstRtspServer.RTSPMediaFactory()
    test.set_launch(
        "( videotestsrc is-live=true pattern=ball ! video/x-raw,width=320,height=240,framerate=15/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )
    test.set_shared(True)
    test.set_protocols(protocols)
    test.connect("media-configure", configured)
    if permissions is not None:
        test.set_permissions(permissions)
    mounts.add_factory("/test", test)

    clip = GstRtspServer.RTSPMediaFactory()
    location = args.clip.replace("\\", "\\\\").replace('"', '\\"')
    clip.set_launch(f'( filesrc location="{location}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    clip.set_shared(True)
    clip.set_protocols(protocols)
    clip.connect("media-configure", configured)
    if permissions is not None:
        clip.set_permissions(permissions)
    mounts.add_factory("/clip", clip)

    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        sys.exit(1)

    loop = GLib.MainLoop()

    def set_all(state):
        for m in medias:
            element = m.get_element()
            pipeline = element.get_parent() or element
            pipeline.set_state(state)
        print(f"media {state.value_nick}", flush=True)
        return True

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, lambda: set_all(Gst.State.PAUSED))
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR2, lambda: set_all(Gst.State.PLAYING))
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, lambda: loop.quit() or False)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, lambda: loop.quit() or False)
    print(f"READY {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
