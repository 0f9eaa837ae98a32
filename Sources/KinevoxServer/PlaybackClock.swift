import Foundation
import KinevoxMotion

/// Plays motions in the avatar's world at a fixed frame rate on its own thread, and hands every
/// message (motion.begin, frames, motion.end) to `emit` — normally `StreamServer.broadcast`, so all
/// viewers see the same avatar at the same moment.
///
/// A new clip starts at once: `play` wakes the clock thread, which sends its motion.begin and first
/// frame right away and counts the following frame periods from that moment. It starts where the
/// avatar stands and faces (translated on the floor, rotated about Y) and cross-fades from the current
/// pose over `blendFrames` frames; a new clip interrupts the one playing; when idle the avatar keeps
/// its last pose and the thread sleeps until the next clip. `play` and `pose` may be called from any
/// thread; `emit` is called on the clock thread.
public final class PlaybackClock: @unchecked Sendable {
    /// Frames of motion per second of motion time (the protocol's 20 fps).
    public let fps: Int
    /// Playback speed: 1 is real time; tests use larger values to run motions faster.
    public let speed: Double
    /// Frames over which a new clip fades in from the current pose.
    public let blendFrames: Int

    private let emit: (ServerMessage) -> Void
    /// Guards every property below and wakes the clock thread (new clip, stop).
    private let state = NSCondition()
    private var pending: (clip: MotionClip, id: Int, closedAt: Double?)?
    private var playing: (frames: [[SIMD3<Float>]], id: Int, next: Int)?
    private var currentPose: [SIMD3<Float>]?
    private var running = false
    private var thread: Thread?
    private let stopped = DispatchSemaphore(value: 0)

    /// A stopped clock; `speed` > 0, `blendFrames` ≥ 0.
    public init(fps: Int = Skeleton.fps, speed: Double = 1, blendFrames: Int = 6,
                emit: @escaping (ServerMessage) -> Void) {
        self.fps = fps
        self.speed = speed > 0 ? speed : 1
        self.blendFrames = max(0, blendFrames)
        self.emit = emit
    }

    /// The avatar's current pose (last frame sent), nil before the first motion.
    public var pose: [SIMD3<Float>]? { state.withLock { currentPose } }

    /// Queues `clip` as motion `id` and wakes the clock thread, which starts it at once (its first
    /// frame goes out without waiting for the next frame period), interrupting any motion playing.
    /// `closedAt` (seconds, `ProcessInfo.systemUptime`) is when its utterance closed, for the
    /// latency reported in motion.begin.
    public func play(_ clip: MotionClip, id: Int, utteranceClosedAt closedAt: Double? = nil) {
        state.withLock {
            pending = (clip, id, closedAt)
            state.signal()
        }
    }

    /// Starts the clock thread.
    public func start() {
        let shouldStart = state.withLock { () -> Bool in
            if running { return false }
            running = true
            return true
        }
        guard shouldStart else { return }
        let thread = Thread { [weak self] in self?.run() }
        thread.name = "kinevox.playback-clock"
        thread.qualityOfService = .userInteractive
        self.thread = thread
        thread.start()
    }

    /// Stops the clock thread and waits for it to finish its tick.
    public func stop() {
        let wasRunning = state.withLock { () -> Bool in
            let r = running
            running = false
            state.signal()
            return r
        }
        if wasRunning { stopped.wait() }
    }

    /// Ticks at absolute deadlines one period apart while a clip plays; sleeps while idle; a clip
    /// queued meanwhile ticks at once and re-phases the deadlines from that tick.
    private func run() {
        let period = 1.0 / (Double(fps) * speed)
        var deadline = ProcessInfo.processInfo.systemUptime
        while let startsClip = waitForTick(until: deadline) {
            let now = ProcessInfo.processInfo.systemUptime
            if startsClip || deadline < now - period { deadline = now }  // new clip, or after a stall: re-phase
            tick()
            deadline += period
        }
        stopped.signal()
    }

    /// Blocks until the next tick is due: `deadline` has passed while a clip plays, or a clip was queued.
    /// Returns whether a queued clip starts on this tick, or nil once the clock is stopped.
    private func waitForTick(until deadline: Double) -> Bool? {
        state.lock()
        defer { state.unlock() }
        while running && pending == nil {
            if playing == nil {
                state.wait()
                continue
            }
            let wait = deadline - ProcessInfo.processInfo.systemUptime
            if wait <= 0 { break }
            _ = state.wait(until: Date(timeIntervalSinceNow: wait))
        }
        return running ? pending != nil : nil
    }

    /// One frame period: start a pending clip if any, then send the next frame of the one playing.
    private func tick() {
        var out: [ServerMessage] = []
        state.withLock {
            if let next = pending {
                pending = nil
                if let old = playing { out.append(.motionEnd(id: old.id, interrupted: true)) }
                let frames = Self.place(next.clip.frames, from: currentPose, blendFrames: blendFrames)
                playing = (frames, next.id, 0)
                let latency = next.closedAt.map { (ProcessInfo.processInfo.systemUptime - $0) * 1000 }
                out.append(.motionBegin(id: next.id, frames: frames.count, latencyMs: latency))
            }
            if var p = playing {
                let joints = p.frames[p.next]
                currentPose = joints
                out.append(.frame(id: p.id, index: p.next, joints: joints,
                                  sentAtMs: Date().timeIntervalSince1970 * 1000))
                p.next += 1
                if p.next == p.frames.count {
                    out.append(.motionEnd(id: p.id, interrupted: false))
                    playing = nil
                } else {
                    playing = p
                }
            }
        }
        for message in out { emit(message) }
    }

    /// Moves `frames` (clip coordinates) to start at `pose`'s floor position and heading, and
    /// cross-fades the first `blendFrames` frames from `pose` carried along by the new root motion.
    /// With no current pose the clip plays where it is.
    static func place(_ frames: [[SIMD3<Float>]], from pose: [SIMD3<Float>]?,
                      blendFrames: Int) -> [[SIMD3<Float>]] {
        guard let pose else { return frames }
        let avatar = RootPlacement(pose: pose)
        let start = RootPlacement(pose: frames[0])
        let turn = avatar.yaw - start.yaw
        let placed = frames.map { frame in
            frame.map { p -> SIMD3<Float> in
                let local = SIMD3(p.x - start.position.x, p.y, p.z - start.position.y)
                let r = RootPlacement.rotate(local, by: turn)
                return SIMD3(r.x + avatar.position.x, r.y, r.z + avatar.position.y)
            }
        }
        let fade = min(blendFrames, placed.count)
        guard fade > 0 else { return placed }
        var blended = placed
        let origin = placed[0][0]
        for k in 0..<fade {
            let x = Float(k + 1) / Float(fade + 1)
            let w = x * x * (3 - 2 * x)  // smoothstep
            var drift = placed[k][0] - origin
            drift.y = 0
            for j in 0..<pose.count {
                blended[k][j] = (pose[j] + drift) * (1 - w) + placed[k][j] * w
            }
        }
        return blended
    }
}
