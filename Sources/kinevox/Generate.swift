import ArgumentParser

/// `kinevox generate` (see docs/interfaces in README). Filled in by its module's work.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not available yet.")

    func run() throws {
        throw ValidationError("kinevox generate is not available in this build yet")
    }
}
