// Load benchmark of KinevoxServer on loopback: N viewers that read everything and M that stop
// reading, all fed the same recorded motions by the real playback clock at 20 fps.
// Checks that every healthy viewer receives every frame, measures frame delay (clock release →
// arrival, from the frame's "t" stamp), that the stalled viewers are cut, and the server's memory.
//
//   swift run -c release kinevox-loadbench [--viewers 200] [--stalled 5] [--motions 3] [--clip PATH.npy]
import Foundation
import KinevoxServer

struct Options {
    var viewers = 200
    var stalled = 5
    var motions = 3
    var clip = "../shared/data/humanml3d/new_joints_012314.npy"

    init(_ arguments: [String]) throws {
        var rest = arguments.makeIterator()
        while let flag = rest.next() {
            guard let value = rest.next() else { throw BenchError("\(flag) needs a value") }
            switch flag {
            case "--viewers": viewers = try Self.count(flag, value, 1...1000)
            case "--stalled": stalled = try Self.count(flag, value, 0...50)
            case "--motions": motions = try Self.count(flag, value, 1...20)
            case "--clip": clip = value
            default: throw BenchError("unknown option \(flag)")
            }
        }
    }

    static func count(_ flag: String, _ value: String, _ range: ClosedRange<Int>) throws -> Int {
        guard let n = Int(value), range.contains(n) else { throw BenchError("\(flag) must be in \(range)") }
        return n
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// What one reader thread saw from its viewers.
final class ReaderTally: @unchecked Sendable {
    var framesPerViewer: [Int]
    var delaysMs: [Double] = []
    var closedViewers = 0
    var endsSeen: [Int]

    init(viewers: Int) {
        framesPerViewer = Array(repeating: 0, count: viewers)
        endsSeen = Array(repeating: 0, count: viewers)
    }
}

/// A flag one thread sets and others read.
final class StopFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}

/// The number after `"key":` in a frame message.
func number(after key: String, in text: String) -> Double? {
    guard let range = text.range(of: key) else { return nil }
    let digits = text[range.upperBound...].prefix { $0 == "-" || $0 == "." || $0.isNumber }
    return Double(digits)
}

func residentMegabytes() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
    else { return 0 }
    return kb / 1024
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[min(sorted.count - 1, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1)]
}

func run() throws {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    let clip = try MotionClip(npyFile: URL(fileURLWithPath: options.clip))
    let started = ProcessInfo.processInfo.systemUptime
    let rssStart = residentMegabytes()

    var config = ServerConfig()
    config.listen = "127.0.0.1:0"
    config.maxClients = options.viewers + options.stalled + 8
    let metrics = ServerMetrics()
    let server = StreamServer(config: config, metrics: metrics, log: { _ in })
    let framesEmittedLock = NSLock()
    var framesEmitted = 0
    var lastEnd = 0
    let clock = PlaybackClock { message in
        if case .frame = message { framesEmittedLock.withLock { framesEmitted += 1 } }
        if case .motionEnd(let id, _) = message { framesEmittedLock.withLock { lastEnd = id } }
        server.broadcast(message)
    }
    let pipeline = MotionPipeline(source: try RecordedMotionSource(clips: [clip]), clock: clock, server: server,
                                  metrics: metrics)
    try server.start()
    clock.start()
    pipeline.start()
    defer {
        pipeline.stop()
        clock.stop()
        server.stop()
    }

    var viewers: [StreamClient] = []
    for _ in 0..<options.viewers {
        viewers.append(try StreamClient(port: server.port))
    }
    var stalled: [StreamClient] = []
    for _ in 0..<options.stalled {
        stalled.append(try StreamClient(port: server.port, receiveBufferBytes: 4096))
    }
    let connectSeconds = ProcessInfo.processInfo.systemUptime - started
    print("connected \(viewers.count) viewers + \(stalled.count) stalled in \(String(format: "%.2f", connectSeconds)) s")

    // Two reader threads, each polling half of the healthy viewers.
    let readerCount = 2
    let stopReading = StopFlag()
    var tallies: [ReaderTally] = []
    var threads: [Thread] = []
    let finished = DispatchGroup()
    for r in 0..<readerCount {
        let mine = stride(from: r, to: viewers.count, by: readerCount).map { viewers[$0] }
        let tally = ReaderTally(viewers: mine.count)
        tallies.append(tally)
        finished.enter()
        let thread = Thread {
            var descriptors = mine.map { pollfd(fd: $0.fileDescriptor, events: Int16(POLLIN), revents: 0) }
            var open = Array(repeating: true, count: mine.count)
            while !stopReading.isSet {
                if poll(&descriptors, nfds_t(descriptors.count), 100) <= 0 { continue }
                let now = Date().timeIntervalSince1970 * 1000
                for k in descriptors.indices where open[k] && descriptors[k].revents != 0 {
                    guard let messages = try? mine[k].receiveAvailable() else { continue }
                    for message in messages {
                        switch message {
                        case .text(let text):
                            if text.hasPrefix("{\"type\":\"frame\"") {
                                tally.framesPerViewer[k] += 1
                                if let t = number(after: "\"t\":", in: text) { tally.delaysMs.append(now - t) }
                            } else if text.hasPrefix("{\"type\":\"motion.end\"") {
                                tally.endsSeen[k] += 1
                            }
                        case .closed:
                            open[k] = false
                            descriptors[k].events = 0
                            tally.closedViewers += 1
                        case .binary:
                            break
                        }
                    }
                }
            }
            finished.leave()
        }
        thread.name = "loadbench.reader.\(r)"
        threads.append(thread)
        thread.start()
    }

    // Motions back to back; memory sampled once a second.
    var rssSamples: [Double] = [residentMegabytes()]
    let playStart = ProcessInfo.processInfo.systemUptime
    var allCutAfter: Double?
    for m in 0..<options.motions {
        let id = pipeline.submit(Utterance(samples: [Int16](repeating: 0, count: 16_000), sampleRate: 16_000,
                                           origin: .microphone))
        let deadline = ProcessInfo.processInfo.systemUptime + clip.duration + 10
        while framesEmittedLock.withLock({ lastEnd }) < id && ProcessInfo.processInfo.systemUptime < deadline {
            Thread.sleep(forTimeInterval: 1)
            rssSamples.append(residentMegabytes())
            if allCutAfter == nil, Int(metric("kinevox_clients_dropped_total", metrics)) == options.stalled {
                allCutAfter = ProcessInfo.processInfo.systemUptime - playStart
            }
        }
        print("motion \(m + 1)/\(options.motions) played; stalled viewers cut so far: "
              + "\(metric("kinevox_clients_dropped_total", metrics))")
    }
    // Let the last frames arrive, then stop the readers.
    let drainDeadline = ProcessInfo.processInfo.systemUptime + 5
    let expectedEnds = options.motions
    while ProcessInfo.processInfo.systemUptime < drainDeadline {
        let allEnded = tallies.allSatisfy { $0.endsSeen.allSatisfy { $0 >= expectedEnds } }
        if allEnded { break }
        Thread.sleep(forTimeInterval: 0.1)
    }
    stopReading.set()
    finished.wait()
    rssSamples.append(residentMegabytes())

    let emitted = framesEmittedLock.withLock { framesEmitted }
    let perViewer = tallies.flatMap { $0.framesPerViewer }
    let complete = perViewer.filter { $0 == emitted }.count
    let delays = tallies.flatMap { $0.delaysMs }.sorted()
    let cut = metric("kinevox_clients_dropped_total", metrics)
    let elapsed = ProcessInfo.processInfo.systemUptime - started
    let lines = [
        "| measure | value |",
        "|---|---|",
        "| healthy viewers / stalled viewers | \(options.viewers) / \(options.stalled) |",
        "| motions × frames (20 fps) | \(options.motions) × \(clip.frameCount) = \(emitted) frames released |",
        "| healthy viewers that received every frame | \(complete) / \(options.viewers) (min \(perViewer.min() ?? 0), max \(perViewer.max() ?? 0) frames) |",
        "| healthy viewers disconnected | \(tallies.reduce(0) { $0 + $1.closedViewers }) |",
        "| frame delay p50 / p99 / max (ms) | \(fmt(percentile(delays, 50))) / \(fmt(percentile(delays, 99))) / \(fmt(delays.last ?? .nan)) over \(delays.count) frames |",
        "| stalled viewers cut (kinevox_clients_dropped_total) | \(cut) |",
        "| all stalled viewers cut within (s after the first frame, 1 s resolution) | \(allCutAfter.map(fmt) ?? "never") |",
        "| frames dropped for stalled viewers | \(metric("kinevox_frames_dropped_total", metrics)) |",
        "| resident memory start / peak / end (MB, whole process) | \(fmt(rssStart)) / \(fmt(rssSamples.max() ?? 0)) / \(fmt(rssSamples.last ?? 0)) |",
        "| wall time (s) | \(fmt(elapsed)) |",
    ]
    print(lines.joined(separator: "\n"))
    let p99 = percentile(delays, 99)
    let passed = complete == options.viewers && p99 <= 50 && Int(cut) == options.stalled
    print(passed ? "PASS: every healthy viewer got every frame, p99 ≤ 50 ms, every stalled viewer cut"
                 : "FAIL: see the table above")
    withExtendedLifetime((viewers, stalled, threads)) {}
    if !passed { exit(1) }
}

func metric(_ name: String, _ metrics: ServerMetrics) -> Double {
    for line in metrics.render().split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.split(separator: " ").last ?? "") ?? .nan
    }
    return .nan
}

func fmt(_ x: Double) -> String { String(format: "%.1f", x) }

do {
    try run()
} catch {
    FileHandle.standardError.write(Data("kinevox-loadbench: \(error)\n".utf8))
    exit(2)
}
