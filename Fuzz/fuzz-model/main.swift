// libFuzzer harness: bytes as a model file → `SafetensorsFile` (header length, JSON header, dtypes, shapes,
// data_offsets, overlap), every tensor read as float32, then `InstructionModel(path:)`, the loader kinevoxd and
// `kinevox` run (kinevox.config JSON, kinevox.commands, binding every layer by name and shape).
// Contract checked: a bound model or one of the model errors (`SafetensorsError`, `WeightBindingError`,
// `SpeechModelError`, `MotionError`, `ModelMetadataError`), each naming the file; anything else is a failure.
import FuzzSupport
import KinevoxEngine
import KinevoxModel
import KinevoxMotion
import KinevoxSpeech

private let file = MemoryFile(name: "input.safetensors")

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    file.write(data, count: size)
    do {
        let safetensors = try SafetensorsFile(path: file.path)
        for name in safetensors.names where safetensors.entries[name]!.dtype.isFloat32Readable {
            _ = try safetensors.floats(name)
        }
        _ = try InstructionModel(path: file.path)
    } catch is SafetensorsError, is WeightBindingError, is SpeechModelError, is MotionError, is ModelMetadataError {
    } catch {
        preconditionFailure("model loading threw an untyped error: \(type(of: error)): \(error)")
    }
    return 0
}

private extension SafetensorsDType {
    var isFloat32Readable: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

runFuzzer(fuzzOne)
