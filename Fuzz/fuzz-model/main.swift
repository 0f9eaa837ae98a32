// libFuzzer harness: bytes as a model file → `SafetensorsFile` (header length, JSON header, dtypes, shapes,
// data_offsets, overlap), then `InstructionModel(path:)`, the loader kinevoxd and `kinevox` run (kinevox.config
// JSON, kinevox.commands, binding every layer by name and shape), and, when binding stops early, every tensor read
// as float32.
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
        // InstructionModel opens the file with this same parser before anything else, so a file refused here would
        // be refused there again with the same error: one parse per input is enough.
        let safetensors = try SafetensorsFile(path: file.path)
        do {
            // A bound model has read every tensor of the file through `SafetensorsFile.floats` (unused ones are refused).
            _ = try InstructionModel(path: file.path)
            return 0
        } catch where isModelError(error) {}
        // Binding stopped early: read the tensors it did not reach, so each dtype's conversion sees the mutated bytes.
        for name in safetensors.names where safetensors.entries[name]!.dtype.isFloat32Readable {
            _ = try safetensors.floats(name)
        }
    } catch where isModelError(error) {
    } catch {
        preconditionFailure("model loading threw an untyped error: \(type(of: error)): \(error)")
    }
    return 0
}

private func isModelError(_ error: any Error) -> Bool {
    error is SafetensorsError || error is WeightBindingError || error is SpeechModelError || error is MotionError
        || error is ModelMetadataError
}

private extension SafetensorsDType {
    var isFloat32Readable: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

runFuzzer(fuzzOne)
