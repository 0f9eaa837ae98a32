import Foundation
import KinevoxdConfig
import KinevoxModel
import Logging

// kinevoxd: the Kinevox daemon. Reads its configuration, loads the model, binds the viewer port, then runs
// capture → VAD → inference → playback → viewers until SIGTERM or SIGINT. Exit status: 0 after a clean stop,
// 2 for bad usage or a bad configuration, 1 for any other failure to start.

let usage = """
    usage: kinevoxd --config PATH [--check-config]
      --config PATH     the TOML configuration (Config/kinevox.toml documents every key)
      --check-config    read and check the configuration and the model path, then exit
    """

var configPath: String?
var checkOnly = false
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    switch argument {
    case "--config":
        guard let value = arguments.popFirst() else {
            FileHandle.standardError.write(Data("kinevoxd: --config needs a path\n\(usage)\n".utf8))
            exit(2)
        }
        configPath = value
    case "--check-config":
        checkOnly = true
    case "-h", "--help":
        print(usage)
        exit(0)
    default:
        FileHandle.standardError.write(Data("kinevoxd: unknown argument \(argument)\n\(usage)\n".utf8))
        exit(2)
    }
}
guard let configPath else {
    FileHandle.standardError.write(Data("kinevoxd: --config PATH is required\n\(usage)\n".utf8))
    exit(2)
}

ShutdownSignals.unblock()
let linePrefix = JournalLogHandler.prefixForCurrentStderr()
let startupLogger = Logger(label: "kinevoxd") { JournalLogHandler(label: $0, level: .info, prefix: linePrefix) }

let config: DaemonConfig
do {
    config = try DaemonConfig.load(path: configPath)
} catch let error as ConfigError {
    startupLogger.error("\(error)")
    exit(2)
} catch {
    startupLogger.error("\(error)")
    exit(1)
}
if checkOnly {
    // The model is opened and bound as at start (header, config, every tensor, front end included), so a
    // missing or corrupt file fails here, not at the first start.
    do {
        let model = try InstructionModel(path: config.model.path, threads: 1)
        let commands = model.commandsJSON == nil ? "; it lists no commands" : ""
        startupLogger.info("configuration \(configPath) is valid; model \(config.model.path) loads (motion up to \(model.maxFrames) frames)\(commands)")
    } catch {
        startupLogger.error("configuration \(configPath): [model] path: \(Daemon.modelProblem(error, path: config.model.path))")
        exit(1)
    }
    exit(0)
}

LoggingSystem.bootstrap { JournalLogHandler(label: $0, level: config.logLevel, prefix: linePrefix) }
let logger = Logger(label: "kinevoxd")
let daemon: Daemon
do {
    daemon = try Daemon(config: config, logger: logger)
} catch {
    logger.error("\(error)")
    exit(1)
}
let signals = ShutdownSignals { name in daemon.stop(reason: name) }
daemon.start()
dispatchMain()
