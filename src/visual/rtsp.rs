//! edgesight's own RTSP server (gst-rtsp-server): one shared media factory per visualised
//! stream, mounted at `/<stream>`. A mount's pipeline exists only while a client watches it
//! (the factory builds it at the first client's DESCRIBE and tears it down after the last
//! leaves): in between, the inference loop finds no input and neither draws nor encodes.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::thread;

use gstreamer as gst;
use gstreamer::glib;
use gstreamer::prelude::*;
use gstreamer_rtsp_server as rtsp_server;
use gstreamer_rtsp_server::prelude::*;

use super::Input;
use crate::error::{Error, Result};

pub struct Server {
    server: rtsp_server::RTSPServer,
    main_loop: glib::MainLoop,
    thread: Option<thread::JoinHandle<()>>,
    source: Option<glib::SourceId>,
}

impl Server {
    /// Binds `addr` and serves from a thread of its own.
    pub fn start(addr: SocketAddr) -> Result<Server> {
        let server = rtsp_server::RTSPServer::new();
        server.set_address(&addr.ip().to_string());
        server.set_service(&addr.port().to_string());
        let context = glib::MainContext::new();
        let source = server.attach(Some(&context)).map_err(|e| {
            Error::output(format!(
                "visualise.rtsp_listen {addr}: cannot listen (port in use or address not local?): {e}"
            ))
        })?;
        let main_loop = glib::MainLoop::new(Some(&context), false);
        let ml = main_loop.clone();
        let thread = thread::Builder::new()
            .name("visualise-rtsp".into())
            .spawn(move || {
                // The server's sources run on this thread's default context.
                let ctx = ml.context();
                let _ = ctx.with_thread_default(|| ml.run());
            })
            .map_err(|e| Error::output(format!("visualise: cannot start the RTSP thread: {e}")))?;
        Ok(Server { server, main_loop, thread: Some(thread), source: Some(source) })
    }

    /// The port actually bound.
    pub fn port(&self) -> Option<u16> {
        u16::try_from(self.server.bound_port()).ok()
    }

    /// Mounts `/<stream>` with the encoder `encode` (a launch line from `appsrc name=src` to
    /// H.264); the returned slot holds the mount's input while a client is connected.
    pub fn mount(&mut self, stream: &str, encode: &str) -> Arc<Mutex<Option<Input>>> {
        let slot: Arc<Mutex<Option<Input>>> = Arc::new(Mutex::new(None));
        let factory = rtsp_server::RTSPMediaFactory::new();
        factory.set_launch(&format!("( {encode} ! rtph264pay name=pay0 pt=96 config-interval=1 )"));
        factory.set_shared(true);
        let s = Arc::clone(&slot);
        factory.connect_media_configure(move |_, media| {
            let element = media.element();
            let Some(bin) = element.downcast_ref::<gst::Bin>() else { return };
            if let Some(input) = Input::from_bin(bin) {
                input.src.set_property("is-live", true);
                input.src.set_property("do-timestamp", true);
                *s.lock().unwrap_or_else(|p| p.into_inner()) = Some(input);
            }
            let s2 = Arc::clone(&s);
            media.connect_unprepared(move |_| {
                *s2.lock().unwrap_or_else(|p| p.into_inner()) = None;
            });
        });
        if let Some(mounts) = self.server.mount_points() {
            mounts.add_factory(&format!("/{stream}"), factory);
        }
        slot
    }

    /// Removes the mount of `stream`: new viewers get 404; a running session ends with the
    /// stream (its input is given the end of stream by the caller).
    pub fn unmount(&mut self, stream: &str) {
        if let Some(mounts) = self.server.mount_points() {
            mounts.remove_factory(&format!("/{stream}"));
        }
    }

    pub fn stop(mut self) {
        // The listening source lives in the server's own context: `SourceId::remove` looks in
        // the default one, finds nothing and panics (glib), so it is destroyed where it is.
        if let Some(id) = self.source.take()
            && let Some(source) = self.main_loop.context().find_source_by_id(&id)
        {
            source.destroy();
        }
        self.main_loop.quit();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
