import Foundation

/// Runs inference for one utterance at a time on its own thread ("kinevox-inference").
///
/// The queue holds at most one waiting utterance: a newer one replaces an older one that has not started
/// (the user's latest command wins; the replaced one is reported through `onReplaced`). The utterance in
/// flight is never interrupted by a new one. `submit` may be called from any thread (capture thread,
/// server thread); `job` and `onReplaced` run on the inference thread and the submitting thread
/// respectively. `stop` is called once, from the main thread.
final class InferenceWorker<Job> {
    private let condition = NSCondition()
    private var waiting: Job?
    private var running = false
    private var stopping = false
    private var finished = false
    private let process: (Job, InferenceWorker) -> Void
    private let onReplaced: (Job) -> Void
    private var thread: Thread?

    /// - Parameters:
    ///   - process: runs one job on the inference thread; it may call `shouldStop` between its stages.
    ///   - onReplaced: told about a waiting job that a newer one displaced before it started.
    init(process: @escaping (Job, InferenceWorker) -> Void, onReplaced: @escaping (Job) -> Void) {
        self.process = process
        self.onReplaced = onReplaced
    }

    /// Starts the inference thread.
    func start() {
        let thread = Thread { [self] in runLoop() }
        thread.name = "kinevox-inference"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Queues `job`, replacing the job still waiting (if any). Ignored once stopping.
    func submit(_ job: Job) {
        condition.lock()
        guard !stopping else { condition.unlock(); return }
        let displaced = waiting
        waiting = job
        condition.signal()
        condition.unlock()
        if let displaced { onReplaced(displaced) }
    }

    /// True once `stop` was called: a long job should give up at its next stage boundary.
    var shouldStop: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// True while a job is being processed.
    var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running
    }

    /// Drops the waiting job, asks the job in flight to stop, and waits up to `timeout` seconds for the
    /// thread to end. Returns false when the job in flight was still running at the deadline (it is then
    /// abandoned: its result is never delivered because the process exits).
    func stop(timeout: TimeInterval) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        stopping = true
        waiting = nil
        condition.broadcast()
        let deadline = Date(timeIntervalSinceNow: timeout)
        while !finished {
            if !condition.wait(until: deadline) { return finished }
        }
        return true
    }

    private func runLoop() {
        while true {
            condition.lock()
            while waiting == nil && !stopping { condition.wait() }
            guard !stopping, let job = waiting else {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            waiting = nil
            running = true
            condition.unlock()

            process(job, self)

            condition.lock()
            running = false
            condition.unlock()
        }
    }
}
