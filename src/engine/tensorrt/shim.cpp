// edgesight's TensorRT shim: a C ABI over TensorRT's named-tensor API (TensorRT 8.5 to 11), so
// Rust can drive it without C++ bindings. Built by build.rs (feature `tensorrt`) against the
// target's own headers, or the vendored Apache-2.0 ones in third_party/.
//
// It links no TensorRT library. The only C symbols TensorRT exports are its factory functions
// (createInferRuntime_INTERNAL, createInferBuilder_INTERNAL, createNvOnnxParser_INTERNAL): Rust
// loads libnvinfer / libnvonnxparser at run time and passes those functions in. Everything else
// is inline header code dispatching through the library's own tables.
//
// Where the versions differ: Dims holds int32 values in 8.x and int64 from 10 (decltype below);
// explicit batch is a network flag in 8.x and the only mode from 10; the FP16/INT8 builder flags
// and the INT8 calibrator are deprecated in 10 and gone in 11, where precision comes from the
// ONNX file (an FP16 export, or Q/DQ nodes); the progress monitor exists from 10.

#include <NvInfer.h>
#include <NvOnnxParser.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

using namespace nvinfer1;

namespace {

using DimValue = std::remove_reference_t<decltype(Dims{}.d[0])>;

typedef void (*LogFn)(void* user, int32_t severity, char const* msg);

// Forwards TensorRT's messages to Rust and counts the error-severity ones: with no driver a
// runtime can log "CUDA initialization failure" and still return a non-null pointer, which the
// caller must then never use.
class Logger final : public ILogger {
public:
    Logger(LogFn fn, void* user) : mFn(fn), mUser(user) {}
    void log(Severity severity, AsciiChar const* msg) noexcept override {
        if (severity == Severity::kERROR || severity == Severity::kINTERNAL_ERROR) mErrors++;
        if (mFn) mFn(mUser, static_cast<int32_t>(severity), msg ? msg : "");
    }
    int32_t errors() const { return mErrors; }

private:
    LogFn mFn;
    void* mUser;
    int32_t mErrors = 0;
};

bool toDims(int64_t const* values, int32_t n, Dims& out) {
    if (n < 0 || n > Dims::MAX_DIMS) return false;
    out.nbDims = n;
    for (int32_t i = 0; i < n; i++) out.d[i] = static_cast<DimValue>(values[i]);
    return true;
}

int32_t fromDims(Dims const& d, int64_t* out, int32_t cap) {
    for (int32_t i = 0; i < d.nbDims && i < cap; i++) out[i] = static_cast<int64_t>(d.d[i]);
    return d.nbDims;
}

void setError(char* err, size_t cap, char const* msg) {
    if (!err || cap == 0) return;
    std::strncpy(err, msg, cap - 1);
    err[cap - 1] = '\0';
}

}  // namespace

extern "C" {

typedef void* (*EsCreateFn)(void* logger, int32_t version);
typedef void* (*EsParserFn)(void* network, void* logger, int version);

int32_t es_trt_header_major(void) { return NV_TENSORRT_MAJOR; }
int32_t es_trt_header_minor(void) { return NV_TENSORRT_MINOR; }

void* es_trt_logger_new(LogFn fn, void* user) { return new (std::nothrow) Logger(fn, user); }
void es_trt_logger_free(void* logger) { delete static_cast<Logger*>(logger); }
int32_t es_trt_logger_errors(void const* logger) { return static_cast<Logger const*>(logger)->errors(); }

// The runtime, from createInferRuntime_INTERNAL. The caller compares the logger's error count
// before and after and discards (never deletes) a runtime created while errors were logged.
void* es_trt_runtime_new(EsCreateFn create, void* logger) {
    ILogger* l = static_cast<Logger*>(logger);
    return create(l, NV_TENSORRT_VERSION);
}
void es_trt_runtime_free(void* runtime) { delete static_cast<IRuntime*>(runtime); }
void es_trt_runtime_set_dla_core(void* runtime, int32_t core) { static_cast<IRuntime*>(runtime)->setDLACore(core); }

void* es_trt_engine_new(void* runtime, void const* blob, size_t len) {
    return static_cast<IRuntime*>(runtime)->deserializeCudaEngine(blob, len);
}
void es_trt_engine_free(void* engine) { delete static_cast<ICudaEngine*>(engine); }

int32_t es_trt_io_count(void const* engine) { return static_cast<ICudaEngine const*>(engine)->getNbIOTensors(); }
char const* es_trt_io_name(void const* engine, int32_t i) {
    return static_cast<ICudaEngine const*>(engine)->getIOTensorName(i);
}
int32_t es_trt_io_is_input(void const* engine, char const* name) {
    return static_cast<ICudaEngine const*>(engine)->getTensorIOMode(name) == TensorIOMode::kINPUT;
}
// nvinfer1::DataType: kFLOAT 0, kHALF 1, kINT8 2, kINT32 3, kBOOL 4, kUINT8 5, …
int32_t es_trt_io_dtype(void const* engine, char const* name) {
    return static_cast<int32_t>(static_cast<ICudaEngine const*>(engine)->getTensorDataType(name));
}
int32_t es_trt_io_shape(void const* engine, char const* name, int64_t* dims, int32_t cap) {
    return fromDims(static_cast<ICudaEngine const*>(engine)->getTensorShape(name), dims, cap);
}
// Profile 0's min (0), opt (1) or max (2) shape of an input; -1 dims when the engine has none.
int32_t es_trt_profile_shape(void const* engine, char const* name, int32_t which, int64_t* dims, int32_t cap) {
    auto e = static_cast<ICudaEngine const*>(engine);
    if (e->getNbOptimizationProfiles() < 1) return -1;
    auto select = which == 0 ? OptProfileSelector::kMIN : which == 1 ? OptProfileSelector::kOPT : OptProfileSelector::kMAX;
    return fromDims(e->getProfileShape(name, 0, select), dims, cap);
}

void* es_trt_context_new(void* engine) { return static_cast<ICudaEngine*>(engine)->createExecutionContext(); }
void es_trt_context_free(void* context) { delete static_cast<IExecutionContext*>(context); }
int32_t es_trt_set_input_shape(void* context, char const* name, int64_t const* dims, int32_t n) {
    Dims d{};
    return toDims(dims, n, d) && static_cast<IExecutionContext*>(context)->setInputShape(name, d);
}
int32_t es_trt_set_address(void* context, char const* name, void* address) {
    return static_cast<IExecutionContext*>(context)->setTensorAddress(name, address);
}
int32_t es_trt_enqueue(void* context, void* stream) {
    return static_cast<IExecutionContext*>(context)->enqueueV3(static_cast<cudaStream_t>(stream));
}

// ------------------------------------------------------------------------------------------------
// Engine build: ONNX → serialized engine.

typedef void (*EsProgressFn)(void* user, int32_t kind, char const* phase, int32_t value);
// One calibration batch for an input of `dims` (the network's, batch dimension included): the
// device address of its data, or 0 when there are no more.
typedef int32_t (*EsCalibBatchFn)(void* user, int64_t const* dims, int32_t nb_dims, void** device_input);
typedef void (*EsCalibCacheFn)(void* user, void const* data, size_t len);

// Precision: 0 fp32, 1 fp16, 2 int8 (with fp16 fallback), 3 as exported (TensorRT 11 and
// strongly typed networks: the ONNX file's own types, FP16 or Q/DQ INT8).
struct EsBuildOptions {
    int32_t precision;
    int32_t dla_core;    // -1: GPU only
    int32_t max_batch;   // for a dynamic batch dimension: a profile with batch 1..max_batch (opt = max)
    int32_t calib_batch; // reserved (0): calibration batches follow the input's batch dimension
    uint64_t workspace;  // bytes; 0: TensorRT's default
    void const* calib_cache;
    size_t calib_cache_len;
};

struct EsBuildCallbacks {
    EsProgressFn progress;
    EsCalibBatchFn calib_batch;
    EsCalibCacheFn calib_cache;
    void* user;
};

}  // extern "C"

namespace {

#if NV_TENSORRT_MAJOR >= 10
// Build phases and steps to Rust (kind 0: phase start with its step count, 1: step, 2: finish).
class Progress final : public IProgressMonitor {
public:
    explicit Progress(EsBuildCallbacks const* cb) : mCb(cb) {}
    void phaseStart(char const* phase, char const*, int32_t steps) noexcept override { report(0, phase, steps); }
    bool stepComplete(char const* phase, int32_t step) noexcept override {
        report(1, phase, step);
        return true;
    }
    void phaseFinish(char const* phase) noexcept override { report(2, phase, 0); }

private:
    void report(int32_t kind, char const* phase, int32_t value) {
        if (mCb && mCb->progress) mCb->progress(mCb->user, kind, phase ? phase : "", value);
    }
    EsBuildCallbacks const* mCb;
};
#endif

#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
// The implicit-quantisation calibrator is deprecated in TensorRT 10 (and gone in 11): it is what
// JetPack 5 and 6 have for INT8 from an FP32 ONNX file.
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
class Calibrator final : public IInt8EntropyCalibrator2 {
public:
    Calibrator(EsBuildOptions const* o, EsBuildCallbacks const* cb) : mOpts(o), mCb(cb) {}
    void setInput(Dims const& d) { mNb = fromDims(d, mDims, 8); }
    int32_t getBatchSize() const noexcept override { return mNb > 0 ? static_cast<int32_t>(mDims[0]) : 1; }
    bool getBatch(void* bindings[], char const* names[], int32_t nbBindings) noexcept override {
        (void)names;
        if (nbBindings != 1 || !mCb->calib_batch) return false;
        void* input = nullptr;
        if (!mCb->calib_batch(mCb->user, mDims, mNb, &input) || !input) return false;
        bindings[0] = input;
        return true;
    }
    void const* readCalibrationCache(std::size_t& length) noexcept override {
        length = mOpts->calib_cache_len;
        return mOpts->calib_cache_len ? mOpts->calib_cache : nullptr;
    }
    void writeCalibrationCache(void const* data, std::size_t length) noexcept override {
        if (mCb->calib_cache) mCb->calib_cache(mCb->user, data, length);
    }

private:
    EsBuildOptions const* mOpts;
    EsBuildCallbacks const* mCb;
    int64_t mDims[8] = {};
    int32_t mNb = 0;
};
#pragma GCC diagnostic pop
#endif

}  // namespace

extern "C" {

void es_trt_free(void* p) { std::free(p); }

// Builds a serialized engine from an ONNX file in memory. 0 on success (*out: malloc'd bytes for
// es_trt_free); otherwise an error code with a message in `err`.
int32_t es_trt_build(EsCreateFn create_builder, EsParserFn create_parser, void* logger, void const* onnx,
                     size_t onnx_len, EsBuildOptions const* o, EsBuildCallbacks const* cb, void** out,
                     size_t* out_len, char* err, size_t err_cap) {
    Logger* log = static_cast<Logger*>(logger);
    int32_t before = log->errors();
    IBuilder* builder = static_cast<IBuilder*>(create_builder(static_cast<ILogger*>(log), NV_TENSORRT_VERSION));
    if (!builder || log->errors() != before) {
        setError(err, err_cap, "TensorRT could not create a builder (see the TensorRT messages above)");
        return 1;
    }
#if NV_TENSORRT_MAJOR < 10
    NetworkDefinitionCreationFlags flags =
        1U << static_cast<uint32_t>(NetworkDefinitionCreationFlag::kEXPLICIT_BATCH);
#else
    NetworkDefinitionCreationFlags flags = 0;
#endif
    INetworkDefinition* network = builder->createNetworkV2(flags);
    nvonnxparser::IParser* parser =
        network ? static_cast<nvonnxparser::IParser*>(create_parser(network, static_cast<ILogger*>(log), NV_ONNX_PARSER_VERSION))
                : nullptr;
    IBuilderConfig* config = builder->createBuilderConfig();
    int32_t rc = 0;
#if NV_TENSORRT_MAJOR >= 10
    Progress progress(cb);
#endif
#if NV_TENSORRT_MAJOR < 11
    Calibrator calibrator(o, cb);
#endif
    do {
        if (!network || !parser || !config) {
            setError(err, err_cap, "TensorRT could not create a network, ONNX parser or builder config");
            rc = 2;
            break;
        }
        if (!parser->parse(onnx, onnx_len)) {
            char const* desc = parser->getNbErrors() > 0 ? parser->getError(0)->desc() : "unknown error";
            setError(err, err_cap, desc);
            rc = 3;
            break;
        }
        if (o->workspace) config->setMemoryPoolLimit(MemoryPoolType::kWORKSPACE, o->workspace);
#if NV_TENSORRT_MAJOR >= 10
        config->setProgressMonitor(&progress);
#endif
        if (o->precision == 1 || o->precision == 2) {
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            config->setFlag(BuilderFlag::kFP16);
            if (o->precision == 2) {
                config->setFlag(BuilderFlag::kINT8);
                // A Q/DQ model carries its own scales; others are calibrated from the images given.
                if (cb->calib_batch || o->calib_cache_len) {
                    // Calibration batches at the input's own shape; a dynamic batch calibrates at
                    // the profile's (max_batch, below), a static one at the model's.
                    Dims d = network->getInput(0)->getDimensions();
                    if (d.d[0] < 0) d.d[0] = static_cast<DimValue>(o->max_batch > 1 ? o->max_batch : 1);
                    calibrator.setInput(d);
                    config->setInt8Calibrator(&calibrator);
                }
            }
#pragma GCC diagnostic pop
#else
            setError(err, err_cap,
                     "TensorRT 11 takes precision from the ONNX file: export an FP16 model or an INT8 Q/DQ model "
                     "and build with precision \"as-exported\"");
            rc = 4;
            break;
#endif
        }
        if (o->dla_core >= 0) {
            config->setDefaultDeviceType(DeviceType::kDLA);
            config->setDLACore(o->dla_core);
            config->setFlag(BuilderFlag::kGPU_FALLBACK);
        }
        if (network->getNbInputs() == 1 && network->getInput(0)->getDimensions().d[0] < 0) {
            // A dynamic batch dimension: one profile from 1 to max_batch, tuned for max_batch. A
            // static batch is the model's own (max_batch does not change it).
            IOptimizationProfile* profile = builder->createOptimizationProfile();
            ITensor* input = network->getInput(0);
            Dims d = input->getDimensions();
            Dims lo = d, hi = d;
            lo.d[0] = 1;
            hi.d[0] = static_cast<DimValue>(o->max_batch > 1 ? o->max_batch : 1);
            bool ok = profile && profile->setDimensions(input->getName(), OptProfileSelector::kMIN, lo) &&
                      profile->setDimensions(input->getName(), OptProfileSelector::kOPT, hi) &&
                      profile->setDimensions(input->getName(), OptProfileSelector::kMAX, hi) &&
                      config->addOptimizationProfile(profile) >= 0;
            if (!ok) {
                setError(err, err_cap, "the model's input does not take a batch profile (is its batch dimension dynamic?)");
                rc = 5;
                break;
            }
#if NV_TENSORRT_MAJOR < 11
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            // Calibration of a dynamic-batch network runs at the profile's shapes.
            if (o->precision == 2 && (cb->calib_batch || o->calib_cache_len)) config->setCalibrationProfile(profile);
#pragma GCC diagnostic pop
#endif
        }
        IHostMemory* plan = builder->buildSerializedNetwork(*network, *config);
        if (!plan || plan->size() == 0) {
            setError(err, err_cap, "TensorRT could not build the engine (see the TensorRT messages above)");
            delete plan;
            rc = 6;
            break;
        }
        void* bytes = std::malloc(plan->size());
        if (!bytes) {
            delete plan;
            setError(err, err_cap, "out of memory for the serialized engine");
            rc = 7;
            break;
        }
        std::memcpy(bytes, plan->data(), plan->size());
        *out = bytes;
        *out_len = plan->size();
        delete plan;
    } while (false);
    delete parser;
    delete config;
    delete network;
    delete builder;
    return rc;
}

}  // extern "C"
