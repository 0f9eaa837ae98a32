import ArgumentParser

/// The `kinevox` command line: one subcommand per job, each in its own file.
@main
struct Kinevox: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kinevox",
        abstract: "Spoken instructions to 3D human motion, on the CPU.",
        subcommands: [Generate.self, Bench.self, Vad.self, Devices.self]
    )
}
