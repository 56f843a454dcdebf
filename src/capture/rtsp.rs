//! RTSP specifics of the capture: which transport to try (`transport = "auto"`: TCP, then UDP
//! when the server refuses TCP, within one connection attempt), what the server offered, and the
//! cause and fix of a refusal.
//!
//! Why TCP first: a server that does not serve one transport refuses its SETUP at once (461,
//! about 40 ms here in either order), so the order costs nothing there; but RTP over UDP that
//! the network drops (NAT, firewalls) is only noticed when rtspsrc's UDP timeout (5 s) runs
//! out, and TCP has no such failure. TCP also survives lossy links without holes in the video.
//! rtspsrc's own fallback (`protocols=tcp+udp`) goes the other way (UDP first), so the order is
//! kept here: each attempt forces one transport.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use gstreamer as gst;

use super::uri::Transport;

/// The transport that last delivered frames on one stream, kept across its reconnects (and
/// shared by the attempts of one reconnect) so that a stream that needed UDP does not ask for
/// TCP first every time. Forgotten when the process ends.
#[derive(Debug, Default)]
pub struct TransportMemory(AtomicU8);

impl TransportMemory {
    pub fn get(&self) -> Option<Transport> {
        match self.0.load(Ordering::Relaxed) {
            1 => Some(Transport::Tcp),
            2 => Some(Transport::Udp),
            _ => None,
        }
    }

    pub fn set(&self, t: Transport) {
        let v = match t {
            Transport::Tcp => 1,
            Transport::Udp => 2,
            Transport::Auto => 0,
        };
        self.0.store(v, Ordering::Relaxed);
    }
}

/// The transports one connection attempt tries, in order: a forced one alone; for `auto` the
/// one that worked last (TCP when none has), then the other.
pub fn attempt_order(configured: Transport, remembered: Option<Transport>) -> Vec<Transport> {
    match configured {
        Transport::Tcp | Transport::Udp => vec![configured],
        Transport::Auto => match remembered {
            Some(Transport::Udp) => vec![Transport::Udp, Transport::Tcp],
            _ => vec![Transport::Tcp, Transport::Udp],
        },
    }
}

/// One stream the server's SDP offers, as rtspsrc announces it before SETUP (`select-stream`):
/// its media (`video`, `audio`, …) and encoding (`H264`, `H265`, `JPEG`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub media: String,
    pub encoding: String,
    /// Whether an installed depayloader and decoder read it (`rtp_decodable`).
    pub decodable: bool,
}

impl Offer {
    /// From the caps rtspsrc announces a stream with. They are named `application/x-unknown`
    /// at that point and carry every SDP attribute; the RTP caps a depayloader is chosen by are
    /// rebuilt from the media, clock rate and encoding.
    pub fn of(caps: &gst::CapsRef) -> Option<Offer> {
        let s = caps.structure(0)?;
        let media = s.get::<&str>("media").ok()?.to_ascii_lowercase();
        let encoding = s.get::<&str>("encoding-name").unwrap_or("unknown").to_ascii_uppercase();
        let mut rtp = gst::Caps::builder("application/x-rtp").field("media", media.as_str());
        if let Ok(rate) = s.get::<i32>("clock-rate") {
            rtp = rtp.field("clock-rate", rate);
        }
        let decodable = media != "video" || rtp_decodable(&rtp.field("encoding-name", encoding.as_str()).build());
        Some(Offer { media, encoding, decodable })
    }
}

/// The streams a server offered, filled by rtspsrc's `select-stream` signal.
pub type Offers = Arc<Mutex<Vec<Offer>>>;

/// The video encodings among `offers`, for logs and hints: `H264`, `H264 and H265`.
pub fn video_encodings(offers: &[Offer]) -> String {
    let v: Vec<&str> = offers.iter().filter(|o| o.media == "video").map(|o| o.encoding.as_str()).collect();
    v.join(" and ")
}

/// Whether the SDP named video and no installed decoder reads any of it: then no transport helps.
pub fn no_decodable_video(offers: &[Offer]) -> bool {
    let mut video = offers.iter().filter(|o| o.media == "video").peekable();
    video.peek().is_some() && video.all(|o| !o.decodable)
}

/// Whether RTP with these caps can be decoded to raw video by what is installed, as decodebin
/// would plug it: a depayloader that takes the caps and a decoder that takes what it gives,
/// both of a rank decodebin uses (so a decoder turned off with GST_PLUGIN_FEATURE_RANK counts
/// as missing here too).
pub fn rtp_decodable(caps: &gst::CapsRef) -> bool {
    let rank = gst::Rank::MARGINAL;
    let depayloaders = gst::ElementFactory::factories_with_type(gst::ElementFactoryType::DEPAYLOADER, rank);
    let decoders = gst::ElementFactory::factories_with_type(
        gst::ElementFactoryType::DECODER | gst::ElementFactoryType::MEDIA_VIDEO,
        rank,
    );
    let caps = caps.to_owned();
    // Only depayloaders that name the encoding: those for static payload types (H.263's 34, …)
    // take any encoding name.
    let wanted = caps.structure(0);
    let names_it = |d: &gst::ElementFactory| {
        d.static_pad_templates().iter().any(|t| {
            t.direction() == gst::PadDirection::Sink
                && t.caps().iter().any(|s| s.has_field("encoding-name") && wanted.is_some_and(|w| s.can_intersect(w)))
        })
    };
    depayloaders.iter().filter(|d| names_it(d)).any(|d| {
        d.static_pad_templates().iter().filter(|t| t.direction() == gst::PadDirection::Src).any(|t| {
            let out = t.caps();
            // A depayloader of raw video needs no decoder.
            out.iter().any(|s| s.name() == "video/x-raw") || decoders.iter().any(|dec| dec.can_sink_any_caps(&out))
        })
    })
}

/// How a transport failed before the first frame, from rtspsrc's error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The server answered SETUP with 461 Unsupported Transport.
    Refused,
    /// RTP over UDP was set up, and no packet came within rtspsrc's UDP timeout.
    UdpSilent,
    /// 503 Service Unavailable. Right after a refused transport this is the server still
    /// closing the refused session's media (gst-rtsp-server does, for a shared media): the next
    /// transport is asked for again after a moment.
    Busy,
}

impl TransportFailure {
    /// From an rtspsrc error's message and debug text: the UDP timeout is told in the debug
    /// text of a "Could not read from resource".
    pub fn of(message: &str, debug: &str) -> Option<TransportFailure> {
        if is_refusal(message) {
            Some(TransportFailure::Refused)
        } else if is_udp_silence(message) || is_udp_silence(debug) {
            Some(TransportFailure::UdpSilent)
        } else if is_busy(debug) {
            Some(TransportFailure::Busy)
        } else {
            None
        }
    }
}

/// rtspsrc's words when the server refused every transport it was allowed to ask for (461
/// Unsupported Transport on SETUP), or skipped every stream.
pub fn is_refusal(message: &str) -> bool {
    message.starts_with("No supported stream was found")
}

/// rtspsrc's debug text of a `503 Service Unavailable` (posted as "Unhandled error").
pub fn is_busy(debug: &str) -> bool {
    debug.contains("(503)")
}

/// rtspsrc's words when RTP over UDP was set up but no packet arrived (its UDP timeout):
/// "Could not receive any UDP packets for 5.0000 seconds, maybe your firewall is blocking it".
pub fn is_udp_silence(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("udp") && m.contains("packets")
}

/// The cause and fix of a refusal, from the transports this attempt tried and what the server
/// offered. The codec is named only when the SDP names video that nothing installed decodes;
/// otherwise the transport is the cause.
pub fn refusal_hint(configured: Transport, tried: &[Transport], offers: &[Offer]) -> String {
    let tried_text = tried.iter().map(|t| t.label()).collect::<Vec<_>>().join(" and ");
    if no_decodable_video(offers) {
        let transport = match configured {
            Transport::Auto => String::new(),
            forced => format!(
                "; the server also refused RTP over {} (transport = \"{}\"), so set transport = \"auto\" too",
                forced.label(),
                forced.name()
            ),
        };
        return format!(
            "the camera offers video as {}, which no installed decoder reads: install gstreamer1.0-plugins-good, \
             -bad, -ugly and gstreamer1.0-libav, or set the camera to H.264{transport}",
            video_encodings(offers)
        );
    }
    match configured {
        Transport::Tcp => "the server refused RTP over TCP (transport = \"tcp\"); it may serve UDP only: set \
                           transport = \"auto\" (TCP, then UDP) or \"udp\""
            .to_string(),
        Transport::Udp => "the server refused RTP over UDP (transport = \"udp\"); it may serve TCP only: set \
                           transport = \"auto\" (TCP, then UDP) or \"tcp\""
            .to_string(),
        Transport::Auto => format!(
            "the server refused RTP over {tried_text}: it may offer multicast only or need an RTSP extension \
             edgesight does not have; check the camera's streaming settings"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(media: &str, encoding: &str, decodable: bool) -> Offer {
        Offer { media: media.into(), encoding: encoding.into(), decodable }
    }

    #[test]
    fn auto_tries_tcp_first_then_what_worked_last() {
        use Transport::*;
        assert_eq!(attempt_order(Auto, None), [Tcp, Udp]);
        assert_eq!(attempt_order(Auto, Some(Tcp)), [Tcp, Udp]);
        assert_eq!(attempt_order(Auto, Some(Udp)), [Udp, Tcp]);
        assert_eq!(attempt_order(Tcp, Some(Udp)), [Tcp], "a forced transport is never changed");
        assert_eq!(attempt_order(Udp, Some(Tcp)), [Udp]);
        let m = TransportMemory::default();
        assert_eq!(m.get(), None);
        m.set(Udp);
        assert_eq!(m.get(), Some(Udp));
        m.set(Tcp);
        assert_eq!(m.get(), Some(Tcp));
    }

    #[test]
    fn refusals_name_the_transport_unless_no_video_can_be_decoded() {
        use Transport::*;
        let h264 = [offer("video", "H264", true), offer("audio", "MPEG4-GENERIC", false)];
        let tcp = refusal_hint(Tcp, &[Tcp], &h264);
        assert!(tcp.contains("refused RTP over TCP") && tcp.contains("transport = \"auto\""), "{tcp}");
        assert!(!tcp.contains("decoder"), "an audio track without decoder is not the cause: {tcp}");
        let udp = refusal_hint(Udp, &[Udp], &h264);
        assert!(udp.contains("refused RTP over UDP") && udp.contains("\"tcp\""), "{udp}");
        let both = refusal_hint(Auto, &[Tcp, Udp], &h264);
        assert!(both.contains("refused RTP over TCP and UDP"), "{both}");
        let h266 = [offer("video", "H266", false)];
        let codec = refusal_hint(Auto, &[Tcp], &h266);
        assert!(codec.contains("offers video as H266") && codec.contains("gstreamer1.0-libav"), "{codec}");
        assert!(!codec.contains("transport"), "{codec}");
        let forced = refusal_hint(Tcp, &[Tcp], &h266);
        assert!(forced.contains("H266") && forced.contains("transport = \"auto\""), "{forced}");
        // No SDP seen (the refusal came before it): the transport.
        assert!(refusal_hint(Tcp, &[Tcp], &[]).contains("refused RTP over TCP"));
        assert!(!no_decodable_video(&[offer("audio", "PCMU", false)]), "no video named: not a codec problem");
        assert_eq!(video_encodings(&[offer("video", "H264", true), offer("video", "H265", false)]), "H264 and H265");
    }

    #[test]
    fn rtspsrc_messages() {
        assert!(is_refusal(
            "No supported stream was found. You might need to allow more transport protocols or may otherwise be \
             missing the right GStreamer RTSP extension plugin."
        ));
        assert!(!is_refusal("Unauthorized"));
        assert!(is_udp_silence(
            "Could not receive any UDP packets for 5.0000 seconds, maybe your firewall is blocking it."
        ));
        assert!(!is_udp_silence("Could not read from resource."));
        assert_eq!(TransportFailure::of("No supported stream was found.", ""), Some(TransportFailure::Refused));
        // As rtspsrc 1.22 posts it: the cause is in the debug text only.
        let debug = "../gst/rtsp/gstrtspsrc.c(6136): gst_rtspsrc_reconnect (): /GstPipeline:pipeline0/GstRTSPSrc:src:\n\
                     Could not receive any UDP packets for 5.0000 seconds, maybe your firewall is blocking it. No \
                     other protocols to try.";
        assert_eq!(TransportFailure::of("Could not read from resource.", debug), Some(TransportFailure::UdpSilent));
        assert_eq!(TransportFailure::of("Not Found", ""), None);
        let busy = "../gst/rtsp/gstrtspsrc.c(6954): gst_rtspsrc_send (): /GstPipeline:pipeline0/GstRTSPSrc:src:\n\
                    Service Unavailable (503)";
        assert_eq!(TransportFailure::of("Unhandled error", busy), Some(TransportFailure::Busy));
        assert_eq!(TransportFailure::of("Could not read from resource.", "Could not receive message. (EOF)"), None);
    }

    #[test]
    fn the_registry_says_which_rtp_video_decodes() {
        crate::capture::reader::init().unwrap();
        let caps = |enc: &str| {
            gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", 90000i32)
                .field("encoding-name", enc)
                .build()
        };
        assert!(rtp_decodable(&caps("H264")), "H.264 decodes with the test dependencies installed");
        assert!(rtp_decodable(&caps("JPEG")));
        assert!(!rtp_decodable(&caps("X-NO-SUCH-CODEC")));
        // As rtspsrc announces a stream: named x-unknown, with every SDP attribute.
        let announced = gst::Caps::builder("application/x-unknown")
            .field("media", "video")
            .field("payload", 96i32)
            .field("clock-rate", 90000i32)
            .field("encoding-name", "H264")
            .field("packetization-mode", "1")
            .build();
        assert_eq!(Offer::of(&announced).unwrap(), offer("video", "H264", true));
        let h266 = gst::Caps::builder("application/x-unknown")
            .field("media", "video")
            .field("clock-rate", 90000i32)
            .field("encoding-name", "X-NO-SUCH-CODEC")
            .build();
        assert_eq!(Offer::of(&h266).unwrap(), offer("video", "X-NO-SUCH-CODEC", false));
        let audio = gst::Caps::builder("application/x-unknown").field("media", "audio").build();
        assert_eq!(Offer::of(&audio).unwrap(), offer("audio", "UNKNOWN", true), "only video is judged");
    }
}
