//! Where the preprocessor writes: one image's slot of the engine's input tensor. The engine lends
//! it, in the memory its input lives in: a host slice, or a CUDA device address with the stream
//! to write on. A preprocessor that cannot write a kind of slot says so (`Preprocessor::writes`).

use std::marker::PhantomData;

use super::spec::DType;

/// Where an engine's input tensor lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Memory {
    Host,
    /// CUDA device memory on this device ordinal.
    Cuda {
        device: i32,
    },
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Memory::Host => f.write_str("host memory"),
            Memory::Cuda { device } => write!(f, "CUDA device {device} memory"),
        }
    }
}

/// The engine's input buffer for one image, in the element type the model takes.
pub enum TensorMut<'a> {
    F32(&'a mut [f32]),
    /// binary16 bits.
    F16(&'a mut [u16]),
    U8(&'a mut [u8]),
}

impl TensorMut<'_> {
    pub fn len(&self) -> usize {
        match self {
            TensorMut::F32(t) => t.len(),
            TensorMut::F16(t) => t.len(),
            TensorMut::U8(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The element type it holds.
    pub fn dtype(&self) -> DType {
        match self {
            TensorMut::F32(_) => DType::F32,
            TensorMut::F16(_) => DType::F16,
            TensorMut::U8(_) => DType::U8,
        }
    }
}

/// One image's input in device memory: a description, not the memory itself. Writing it is the
/// business of a GPU preprocessor's FFI code; the borrow ties it to the engine that lent it.
#[derive(Debug)]
pub struct DeviceSlot<'a> {
    /// Device address of the image's first element.
    pub ptr: u64,
    /// Elements of one image (width × height × 3).
    pub elements: usize,
    pub dtype: DType,
    pub device: i32,
    /// The CUDA stream (`cudaStream_t` as an integer) the engine runs on; writes are queued on it
    /// so the engine sees them without a host synchronisation.
    pub stream: u64,
    _engine: PhantomData<&'a mut ()>,
}

impl DeviceSlot<'_> {
    pub fn new(ptr: u64, elements: usize, dtype: DType, device: i32, stream: u64) -> Self {
        DeviceSlot { ptr, elements, dtype, device, stream, _engine: PhantomData }
    }
}

/// One image's slot of the engine input.
pub enum InputSlot<'a> {
    Host(TensorMut<'a>),
    Device(DeviceSlot<'a>),
}
