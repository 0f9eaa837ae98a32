import CFuzzerDriver
import Glibc

/// Runs libFuzzer with this process's arguments over `testOneInput` (also exported as `LLVMFuzzerTestOneInput`
/// by each harness) and exits with its status. Called from a harness's `main.swift`.
public func runFuzzer(_ testOneInput: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt) -> Never {
    var argc = CommandLine.argc
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, testOneInput))
}
