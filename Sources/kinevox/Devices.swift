import ArgumentParser

/// `kinevox devices` (see docs/interfaces in README). Filled in by its module's work.
struct Devices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not available yet.")

    func run() throws {
        throw ValidationError("kinevox devices is not available in this build yet")
    }
}
