// libFuzzer harness: bytes as a WAV file → `WAVFile.readMono` (libsndfile decode, the truncation check, downmix,
// libsoxr resampling to 16 kHz), exactly the path `kinevox generate`, uploads of files and `file:` capture take.
// Contract checked: 16 kHz mono samples or an `AudioError`; any other error type is a failure.
import FuzzSupport
import KinevoxAudio

private let file = MemoryFile(name: "input.wav")

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    file.write(data, count: size)
    do {
        let samples = try WAVFile.readMono(file.path)
        precondition(!samples.isEmpty || size == 0, "decoded audio resampled to no samples")
    } catch is AudioError {
    } catch {
        preconditionFailure("WAVFile.readMono threw an untyped error: \(error)")
    }
    return 0
}

runFuzzer(fuzzOne)
