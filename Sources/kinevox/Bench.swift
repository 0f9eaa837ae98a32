import ArgumentParser

/// `kinevox bench` (see docs/interfaces in README). Filled in by its module's work.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not available yet.")

    func run() throws {
        throw ValidationError("kinevox bench is not available in this build yet")
    }
}
