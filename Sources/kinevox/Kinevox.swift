import ArgumentParser
import Foundation

/// The `kinevox` command line: one subcommand per job, each in its own file.
/// Exit status: 0 success, 2 bad usage or bad input, 1 any other failure; the cause is one line on stderr.
@main
struct Kinevox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kinevox",
        abstract: "Spoken instructions to 3D human motion, on the CPU.",
        subcommands: [Generate.self, Bench.self, Vad.self, Devices.self]
    )

    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                let message = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "bad usage"
                FileHandle.standardError.write(Data("kinevox: \(message)\n".utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
