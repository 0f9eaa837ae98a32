// libFuzzer harness: bytes as kinevoxd's TOML file → `DaemonConfig.load` (TOMLKit parse, every section's typed
// getters and ranges, each module's `validate()`, unknown sections and keys), the loader kinevoxd runs at start.
// Contract checked: a configuration, or a `ConfigError` that prints as `fuzz.toml:LINE: reason` with LINE inside
// the file (or a `MissingBundledFile` when the model/viewer path is left to the bundled one); anything else fails.
import Foundation
import FuzzSupport
import KinevoxdConfig

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = Data(bytes: data!, count: size)
    guard let text = String(data: bytes, encoding: .utf8) else { return 0 }  // refused as "not UTF-8 text", line 1
    let lineCount = text.unicodeScalars.filter { $0 == "\n" }.count + 1
    do {
        _ = try DaemonConfig.load(ConfigDocument(path: "fuzz.toml", text: text))
    } catch let error as ConfigError {
        precondition(error.file == "fuzz.toml" && (1...max(lineCount, 1)).contains(error.line),
                     "refusal outside the file: line \(error.line) of \(lineCount): \(error)")
        precondition(!error.reason.isEmpty, "refusal without a reason at line \(error.line)")
    } catch is MissingBundledFile {
    } catch {
        preconditionFailure("DaemonConfig.load threw an untyped error: \(type(of: error)): \(error)")
    }
    return 0
}

runFuzzer(fuzzOne)
