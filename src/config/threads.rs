//! Threads and cores: how many threads a stream's software video decoder gets
//! (`pipeline.decoder_threads`) and whether ONNX Runtime's workers spin while they wait for work
//! (`model.spin_wait`), from the number of cores and the threads the engine takes. Pure
//! functions of those numbers; the measurements behind the rules are in
//! docs/perf/optimization_guide.md, "Threads and cores".

use super::EngineKind;

/// `model.spin_wait`: whether ONNX Runtime's intra-op workers busy-wait between operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SpinWait {
    /// Off when the engine's threads take every core (the rule, `spin`).
    #[default]
    Auto,
    On,
    Off,
}

impl SpinWait {
    /// The value of `model.spin_wait` (validated against the schema's names before this).
    pub fn from_name(name: &str) -> Option<SpinWait> {
        match name {
            "auto" => Some(SpinWait::Auto),
            "on" => Some(SpinWait::On),
            "off" => Some(SpinWait::Off),
            _ => None,
        }
    }
}

/// The cores this process may run on (its affinity mask, cgroup quota), at least 1.
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The cores the engine keeps busy: ONNX Runtime's intra-op threads (`model.threads`, 0 = one
/// per core), or the one thread that feeds a GPU engine.
pub fn engine_threads(engine: EngineKind, model_threads: usize, cores: usize) -> usize {
    match engine {
        EngineKind::Tensorrt => 1,
        EngineKind::OnnxCpu if model_threads == 0 => cores,
        EngineKind::OnnxCpu => model_threads,
    }
}

/// Threads of each stream's software decoder (libav's `max-threads`): `configured` when set,
/// otherwise the cores the engine leaves free, at least one. A decoder given more threads than
/// there are free cores only takes them from the engine (each thread also holds decoded frames).
pub fn decoder_threads(configured: u32, cores: usize, engine_threads: usize) -> u32 {
    if configured > 0 {
        return configured;
    }
    u32::try_from(cores.saturating_sub(engine_threads).max(1)).unwrap_or(u32::MAX)
}

/// Whether ONNX Runtime's workers spin: as configured, or (auto) only when the engine leaves a
/// core free. A spinning worker on a core the decoder or the preprocessor needs burns the time
/// they wait for.
pub fn spin(configured: SpinWait, cores: usize, engine_threads: usize) -> bool {
    match configured {
        SpinWait::On => true,
        SpinWait::Off => false,
        SpinWait::Auto => engine_threads < cores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_threads_follow_model_threads_and_the_engine() {
        assert_eq!(engine_threads(EngineKind::OnnxCpu, 0, 4), 4, "0 = one per core");
        assert_eq!(engine_threads(EngineKind::OnnxCpu, 2, 4), 2);
        assert_eq!(engine_threads(EngineKind::OnnxCpu, 6, 4), 6, "more than the cores, as configured");
        assert_eq!(engine_threads(EngineKind::Tensorrt, 0, 4), 1);
        assert_eq!(engine_threads(EngineKind::Tensorrt, 3, 4), 1, "model.threads is ONNX Runtime's");
    }

    #[test]
    fn decoder_threads_are_the_cores_the_engine_leaves_at_least_one() {
        assert_eq!(decoder_threads(0, 2, 2), 1);
        assert_eq!(decoder_threads(0, 2, 1), 1);
        assert_eq!(decoder_threads(0, 4, 2), 2);
        assert_eq!(decoder_threads(0, 8, 1), 7);
        assert_eq!(decoder_threads(0, 2, 6), 1, "an engine with more threads than cores");
        assert_eq!(decoder_threads(0, 1, 0), 1);
    }

    #[test]
    fn configured_decoder_threads_win() {
        assert_eq!(decoder_threads(1, 8, 1), 1);
        assert_eq!(decoder_threads(3, 2, 2), 3);
        assert_eq!(decoder_threads(64, 1, 1), 64);
    }

    #[test]
    fn spinning_only_when_the_engine_leaves_a_core() {
        assert!(!spin(SpinWait::Auto, 2, 2));
        assert!(!spin(SpinWait::Auto, 2, 3));
        assert!(spin(SpinWait::Auto, 2, 1));
        assert!(spin(SpinWait::Auto, 8, 7));
        assert!(!spin(SpinWait::Off, 8, 1), "off whatever the cores");
        assert!(spin(SpinWait::On, 2, 2), "on whatever the cores");
    }

    #[test]
    fn spin_wait_names() {
        assert_eq!(SpinWait::from_name("auto"), Some(SpinWait::Auto));
        assert_eq!(SpinWait::from_name("on"), Some(SpinWait::On));
        assert_eq!(SpinWait::from_name("off"), Some(SpinWait::Off));
        assert_eq!(SpinWait::from_name("Off"), None);
        assert_eq!(SpinWait::default(), SpinWait::Auto);
    }

    #[test]
    fn the_cores_are_those_the_process_may_use() {
        // What the standard library reads from the affinity mask and the cgroup quota; a fixed
        // count would size the decoders for another machine.
        let std_count = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(cores(), std_count);
        assert!(cores() >= 1);
    }
}
