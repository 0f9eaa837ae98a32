import ArgumentParser

/// `kinevox vad` (see docs/interfaces in README). Filled in by its module's work.
struct Vad: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not available yet.")

    func run() throws {
        throw ValidationError("kinevox vad is not available in this build yet")
    }
}
