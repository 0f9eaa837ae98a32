import Foundation
import Prometheus

/// The daemon's Prometheus metrics, exported at `/metrics`. Every method is thread-safe and cheap
/// (lock-free counters inside swift-prometheus); call from any thread.
public final class ServerMetrics: @unchecked Sendable {
    /// The registry rendered by `/metrics`; other modules may register their own collectors on it.
    public let registry = PrometheusCollectorRegistry()

    private let utterancesMicrophone: Counter
    private let utterancesUpload: Counter
    private let utterancesNotUnderstood: Counter
    private let framesSent: Counter
    private let framesDropped: Counter
    private let clientsDropped: Counter
    private let messagesRefused: Counter
    private let captureXruns: Counter
    private let speculativeRuns: [SpeculativeRun: Counter]
    private let clientsConnected: Gauge
    private let stageLock = NSLock()
    private var stageHistograms: [String: ValueHistogram] = [:]

    /// Latency buckets in seconds, from 5 ms to 30 s.
    public static let latencyBuckets: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    ]

    /// Registers every collector (values start at zero).
    public init() {
        let registry = self.registry
        func counter(_ name: String, _ help: String, _ labels: [(String, String)] = []) -> Counter {
            registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "kinevox", metricName: name, unitName: "total", helpText: help),
                labels: labels)
        }
        let utterancesHelp = "Utterances closed, by source (microphone VAD or push-to-talk upload)."
        utterancesMicrophone = counter("utterances", utterancesHelp, [("source", "microphone")])
        utterancesUpload = counter("utterances", utterancesHelp, [("source", "upload")])
        utterancesNotUnderstood = counter("utterances_not_understood",
                                          "Utterances the model did not understand (no motion made).")
        framesSent = counter("frames_sent", "Motion frames written to viewer sockets.")
        framesDropped = counter("frames_dropped", "Motion frames discarded because their client was too slow.")
        clientsDropped = counter("clients_dropped", "Clients disconnected because their send queue was full.")
        messagesRefused = counter("messages_refused", "Client messages answered with an error.")
        captureXruns = counter("capture_xruns", "ALSA capture overruns.")
        let speculativeHelp = "Early-endpointing runs of the model on an utterance so far: started, used (played, "
            + "early or at the hangover) and dropped (speech resumed, or the run failed)."
        speculativeRuns = Dictionary(uniqueKeysWithValues: SpeculativeRun.allCases.map {
            ($0, counter("speculative_runs", speculativeHelp, [("outcome", $0.rawValue)]))
        })
        clientsConnected = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "kinevox", metricName: "clients", unitName: "", helpText: "WebSocket clients connected now."))
    }

    /// One utterance closed; `upload` is true for push-to-talk, false for the microphone.
    public func recordUtterance(upload: Bool) {
        (upload ? utterancesUpload : utterancesMicrophone).increment()
    }

    /// One utterance the model did not understand (`kinevox_utterances_not_understood_total`).
    public func recordNotUnderstood() {
        utterancesNotUnderstood.increment()
    }

    /// Duration of one pipeline stage ("frontend", "audio_encoder", "generator", "decoder",
    /// "total", …) in seconds, into the histogram `kinevox_stage_latency_seconds{stage=…}`.
    public func recordStage(_ stage: String, seconds: Double) {
        let histogram: ValueHistogram = stageLock.withLock {
            if let h = stageHistograms[stage] { return h }
            let h = registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(
                    namespace: "kinevox", metricName: "stage_latency", unitName: "seconds",
                    helpText: "Latency of each pipeline stage per utterance."),
                labels: [("stage", stage)], buckets: Self.latencyBuckets)
            stageHistograms[stage] = h
            return h
        }
        histogram.record(seconds)
    }

    /// What became of a speculative (early-endpointing) model run.
    public enum SpeculativeRun: String, CaseIterable, Sendable {
        case started, used, dropped
    }

    /// One speculative run started, used or dropped: `kinevox_speculative_runs_total{outcome=…}`.
    public func recordSpeculativeRun(_ outcome: SpeculativeRun) { speculativeRuns[outcome]?.increment() }

    /// One ALSA overrun seen by the capture thread.
    public func recordCaptureXrun() { captureXruns.increment() }

    func recordFramesSent(_ n: Int) { framesSent.increment(by: Int64(n)) }
    func recordFramesDropped(_ n: Int) { if n > 0 { framesDropped.increment(by: Int64(n)) } }
    func recordClientDropped() { clientsDropped.increment() }
    func recordRefusal() { messagesRefused.increment() }
    func setClients(_ n: Int) { clientsConnected.set(Double(n)) }

    /// The Prometheus text exposition of every collector.
    public func render() -> String { registry.emitToString() }
}
