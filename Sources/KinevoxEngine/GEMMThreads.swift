import COpenBLAS
import Foundation
import Glibc
import Synchronization

/// The CPU threads that run the GEMMs of one inference thread (one model): the calling thread and
/// `count - 1` persistent worker threads of this team (named `kinevox-gemm` in `ps -L`) share each large GEMM.
///
/// `BLAS.sgemm` uses the team installed on the calling thread by `serving(_:)`; without one it runs on the
/// caller alone. OpenBLAS itself always runs single-threaded, so teams never share threads or process-wide
/// settings: two inference threads with a 1-thread team each and one inference thread with a 2-thread team
/// both work. A GEMM below `splitThresholdFLOPs`, or too small to cut into parts that stay out of OpenBLAS's
/// small-matrix kernels, runs on the caller alone.
///
/// Parts are fixed by the GEMM's shape and `count` only: slices of C's columns when `op(A)` is the smaller
/// operand (each part re-reads A and a slice of B), else of its rows, in whole 16-float blocks (64 bytes) but
/// the last; `partsPerThread` parts per thread. The caller and the workers claim parts until none is left,
/// so a worker that is late (asleep, or descheduled on a busy machine) never holds the caller up. Each part is
/// one single-threaded `BLAS.sgemmOnThisThread` whichever thread runs it, so results repeat bit for bit run to run.
///
/// Dispatch never allocates (one preallocated job slot, an atomic claim word, POSIX semaphores). After its
/// last part a worker polls for the next GEMM for up to 0.1 ms, yielding its core between polls, then sleeps
/// in `sem_wait`: an idle team costs no CPU. One caller at a time: a GEMM issued while another thread is
/// using the same team runs on its caller alone. Create, use and release a team on any thread.
public final class GEMMThreads {
    /// Threads per GEMM, the calling thread included (≥ 1).
    public let count: Int
    let crew: GEMMCrew?

    /// GEMMs with fewer FLOPs (2·m·n·k) run on the caller alone: waking a worker costs more than it saves,
    /// and their halves would land in OpenBLAS's small-matrix kernels (see `GEMMJob.smallKernelMNK`).
    public static let splitThresholdFLOPs = 4_000_000

    /// A team of `count` threads (values below 1 count as 1); starts `count - 1` worker threads.
    public init(count: Int) {
        BLAS.configureLibrary()
        self.count = max(1, count)
        crew = self.count > 1 ? GEMMCrew(workers: self.count - 1) : nil
    }

    deinit { crew?.stop() }

    /// Runs `body` with this team serving every `BLAS.sgemm` the calling thread issues inside it (nested
    /// calls install the inner team until they return).
    public func serving<Result>(_ body: () throws -> Result) rethrows -> Result {
        let previous = pthread_getspecific(currentCrewKey)
        pthread_setspecific(currentCrewKey, crew.map { Unmanaged.passUnretained($0).toOpaque() })
        defer { pthread_setspecific(currentCrewKey, previous) }
        return try body()
    }

    /// The team installed on the calling thread by `serving`, nil for none or a 1-thread team.
    static var currentCrew: GEMMCrew? {
        guard let pointer = pthread_getspecific(currentCrewKey) else { return nil }
        return Unmanaged<GEMMCrew>.fromOpaque(pointer).takeUnretainedValue()
    }
}

extension GEMMThreads {
    /// Most parts one job is split into on the calling thread's team (1 without a team).
    static var partLimit: Int {
        guard let crew = currentCrew else { return 1 }
        return min((crew.workers + 1) * GEMMJob.partsPerThread, GEMMJob.maximumParts)
    }

    /// Runs `runner(context, part, parts)` for every part on the calling thread's team (each part claimed by
    /// whichever thread is free), or on the caller alone without a team or while another thread uses it.
    /// `context` must stay valid until this returns.
    static func runParts(_ parts: Int, context: UnsafeRawPointer,
                         runner: @convention(c) (UnsafeRawPointer?, Int, Int) -> Void) {
        if parts > 1, let crew = currentCrew {
            var job = GEMMJob()
            job.parts = parts
            job.partRunner = runner
            job.partContext = context
            if crew.dispatch(job) { return }
        }
        for part in 0 ..< parts { runner(context, part, parts) }
    }
}

/// Work over the items `0 ..< count` that `GEMMThreads.forEachPart` can split over a team: `run(items)` computes
/// those items and writes only what they own (parts run at the same time on different threads). Conforming types
/// hold pointers and sizes, so that splitting allocates nothing.
public protocol PartitionedWork {
    func run(_ items: Range<Int>)
}

extension GEMMThreads {
    /// Row-wise and element-wise passes over at least this many floats are split over the calling thread's team
    /// (`forEachPart`): below it, waking a worker costs more than it saves.
    public static let parallelElementCount = 1 << 16

    /// Runs `work` over `0 ..< count` in consecutive ranges that together cover it once: on the calling thread's team
    /// when `elements` (the floats the whole pass touches) reaches `parallelElementCount`, else as one range on the
    /// caller. Each item is computed the same way whichever range and thread it falls in. No allocation.
    public static func forEachPart<Work: PartitionedWork>(of count: Int, elements: Int, _ work: Work) {
        let parts = elements < parallelElementCount ? 1 : Swift.min(partLimit, count)
        guard parts > 1 else {
            if count > 0 { work.run(0 ..< count) }
            return
        }
        withUnsafePointer(to: work) { work in
            var pass = PartitionedPass(count: count, work: UnsafeRawPointer(work), workType: Work.self)
            withUnsafePointer(to: &pass) { GEMMThreads.runParts(parts, context: UnsafeRawPointer($0), runner: runPartitionedPart) }
        }
    }
}

/// One `GEMMThreads.forEachPart` call as its parts see it (on the dispatching thread's stack while they run).
private struct PartitionedPass {
    var count: Int
    /// The `PartitionedWork` value, of type `workType`.
    var work: UnsafeRawPointer
    var workType: any PartitionedWork.Type
}

/// Runs part `part` of `parts` of the `PartitionedPass` at `context` (a `GEMMJob.partRunner`).
private let runPartitionedPart: @convention(c) (UnsafeRawPointer?, Int, Int) -> Void = { context, part, parts in
    guard let pass = context?.assumingMemoryBound(to: PartitionedPass.self).pointee else { return }
    let items = pass.count * part / parts ..< pass.count * (part + 1) / parts
    if !items.isEmpty { runWork(pass.workType, at: pass.work, items: items) }
}

/// Runs the `Work` at `work` over `items`.
private func runWork<Work: PartitionedWork>(_ type: Work.Type, at work: UnsafeRawPointer, items: Range<Int>) {
    work.assumingMemoryBound(to: Work.self).pointee.run(items)
}

/// Thread-local slot holding the calling thread's `GEMMCrew` (unretained; `serving` keeps it alive).
private let currentCrewKey: pthread_key_t = {
    var key = pthread_key_t()
    pthread_key_create(&key, nil)
    return key
}()

/// One GEMM `C = alpha * op(A) * op(B) + beta * C` (row-major) and how it is split into parts.
struct GEMMJob {
    var transposeA = false, transposeB = false
    var m = 0, n = 0, k = 0
    var alpha: Float = 1, beta: Float = 0
    var a: UnsafePointer<Float>?, b: UnsafePointer<Float>?, c: UnsafeMutablePointer<Float>?
    var lda = 0, ldb = 0, ldc = 0
    /// Split along the rows of C (else along its columns).
    var splitRows = false
    /// Number of parts.
    var parts = 1
    /// When set, computes part `part` of `parts` instead of the sgemm above (the bf16 kernel, `BF16GEMM`), reading
    /// its product from `partContext`, which the dispatching thread keeps valid until `dispatch` returns.
    var partRunner: (@convention(c) (UnsafeRawPointer?, Int, Int) -> Void)? = nil
    var partContext: UnsafeRawPointer? = nil

    /// Parts per thread: more than one lets the threads that are running take over the parts of a late one.
    static let partsPerThread = 2
    /// Most parts of one GEMM (they are counted in 8 bits of `GEMMCrew`'s claim word).
    static let maximumParts = 255
    /// Floats per block of a part (64 bytes).
    static let block = 16
    /// OpenBLAS (0.3.21, AVX-512 kernels) sends a GEMM with m·n·k at most this to its small-matrix kernels, one of
    /// which mallocs a buffer on every call; a part never goes down there (a GEMM that would have to runs unsplit).
    static let smallKernelMNK = 1_000_000

    /// The split for `threads` threads, or nil when the GEMM should run on the caller alone: each part a whole
    /// number of 16-float blocks (the last takes the remainder) with m·n·k above `smallKernelMNK`.
    static func partition(m: Int, n: Int, k: Int, threads: Int) -> (splitRows: Bool, parts: Int)? {
        // Each part reads all of the operand along the other dimension: prefer splitting the larger operand's.
        let preferRows = m > n
        if let parts = parts(length: preferRows ? m : n, across: (preferRows ? n : m) * k, threads: threads) {
            return (preferRows, parts)
        }
        if let parts = parts(length: preferRows ? n : m, across: (preferRows ? m : n) * k, threads: threads) {
            return (!preferRows, parts)
        }
        return nil
    }

    /// How many parts to cut `length` into (nil for fewer than 2), each part's length times `across` above
    /// `smallKernelMNK`.
    private static func parts(length: Int, across: Int, threads: Int) -> Int? {
        var parts = min(threads * partsPerThread, maximumParts, (length + block - 1) / block)
        while parts > 1 {
            var shortest = length
            for part in 0 ..< parts { shortest = min(shortest, range(part: part, of: parts, length: length).count) }
            if shortest * across > smallKernelMNK { return parts }
            parts -= 1
        }
        return nil
    }

    /// The rows or columns of part `part` of `parts` along a dimension of `length`.
    static func range(part: Int, of parts: Int, length: Int) -> Range<Int> {
        let blocks = (length + block - 1) / block
        return min(length, part * blocks / parts * block) ..< min(length, (part + 1) * blocks / parts * block)
    }

    /// Computes part `part` of `parts` with single-threaded OpenBLAS (or `partRunner` when set).
    func run(part: Int) {
        if let partRunner { return partRunner(partContext, part, parts) }
        let span = Self.range(part: part, of: parts, length: splitRows ? m : n)
        let start = span.lowerBound, end = span.upperBound
        guard start < end, let a, let b, let c else { return }
        if splitRows {
            BLAS.sgemmOnThisThread(transposeA: transposeA, transposeB: transposeB, m: end - start, n: n, k: k, alpha: alpha,
                                   a: transposeA ? a + start : a + start * lda, lda: lda, b: b, ldb: ldb, beta: beta,
                                   c: c + start * ldc, ldc: ldc)
        } else {
            BLAS.sgemmOnThisThread(transposeA: transposeA, transposeB: transposeB, m: m, n: end - start, k: k, alpha: alpha,
                                   a: a, lda: lda, b: transposeB ? b + start * ldb : b + start, ldb: ldb, beta: beta,
                                   c: c + start, ldc: ldc)
        }
    }
}

/// The worker threads of a `GEMMThreads` and their synchronisation; retained by each worker thread until it exits.
///
/// A job is published as one atomic word (epoch, number of parts, next unclaimed part); the caller and the
/// workers claim parts with compare-and-swap until none is left, so a worker that is late (asleep, or
/// descheduled on a busy machine) never holds the caller up: the caller computes the unclaimed parts itself.
/// Which thread computes a part does not change its result (each part is the same single-threaded
/// `BLAS.sgemmOnThisThread` call), so the output repeats bit for bit.
final class GEMMCrew {
    /// How long an idle worker polls for the next job (yielding its core to any other runnable thread between
    /// polls) before sleeping, and how long the caller polls for workers' parts before sleeping, in nanoseconds.
    static let spinNanoseconds = 100_000

    let workers: Int
    private let job: UnsafeMutablePointer<GEMMJob>
    /// epoch << 16 | parts << 8 | next unclaimed part.
    private let claims = Atomic<UInt64>(0)
    /// One flag and one wake-up semaphore per worker: set by a worker about to sleep, cleared by whoever posts.
    private let sleeping: UnsafeMutablePointer<Atomic<Bool>>
    private let wake: UnsafeMutablePointer<sem_t>
    /// Posted once for each part a worker finishes.
    private let done: UnsafeMutablePointer<sem_t>
    private let stopping = Atomic<Bool>(false)
    /// Held by the thread dispatching a job (trylock: a second caller runs alone instead of waiting).
    private let dispatchLock: UnsafeMutablePointer<pthread_mutex_t>
    private var threads: [pthread_t] = []

    init(workers: Int) {
        self.workers = workers
        job = .allocate(capacity: 1)
        job.initialize(to: GEMMJob())
        sleeping = .allocate(capacity: workers)
        wake = .allocate(capacity: workers)
        for index in 0 ..< workers {
            (sleeping + index).initialize(to: Atomic(false))
            sem_init(wake + index, 0, 0)
        }
        done = .allocate(capacity: 1)
        sem_init(done, 0, 0)
        dispatchLock = .allocate(capacity: 1)
        pthread_mutex_init(dispatchLock, nil)
        for index in 0 ..< workers {
            let context = Unmanaged.passRetained(GEMMWorkerContext(crew: self, index: index)).toOpaque()
            var thread = pthread_t()
            if pthread_create(&thread, nil, gemmWorkerMain, context) == 0 {
                threads.append(thread)
            } else {
                Unmanaged<GEMMWorkerContext>.fromOpaque(context).release()
                break
            }
        }
    }

    deinit {
        for index in 0 ..< workers { sem_destroy(wake + index) }
        sem_destroy(done)
        pthread_mutex_destroy(dispatchLock)
        sleeping.deinitialize(count: workers)
        sleeping.deallocate()
        wake.deallocate()
        done.deallocate()
        dispatchLock.deallocate()
        job.deallocate()
    }

    /// Runs `newJob` split into its parts on the calling thread and whichever workers claim parts first;
    /// returns when all are done. Returns false (doing nothing) when another thread is dispatching on this crew.
    func dispatch(_ newJob: GEMMJob) -> Bool {
        guard pthread_mutex_trylock(dispatchLock) == 0 else { return false }
        defer { pthread_mutex_unlock(dispatchLock) }
        job.pointee = newJob
        let epoch = (claims.load(ordering: .relaxed) >> 16) &+ 1
        claims.store(epoch << 16 | UInt64(newJob.parts) << 8, ordering: .sequentiallyConsistent)
        for index in 0 ..< threads.count {
            let wasSleeping = (sleeping + index).pointee.exchange(false, ordering: .sequentiallyConsistent)
            if wasSleeping { sem_post(wake + index) }
        }
        var mine = 0
        while let part = claim() {
            newJob.run(part: part)
            mine += 1
        }
        for _ in mine ..< newJob.parts { Self.wait(done) }
        return true
    }

    /// Claims the next unclaimed part of the current job, nil when all are claimed.
    private func claim() -> Int? {
        var word = claims.load(ordering: .acquiring)
        while word & 0xff < (word >> 8) & 0xff {
            let (exchanged, original) = claims.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
            if exchanged { return Int(word & 0xff) }
            word = original
        }
        return nil
    }

    private var hasUnclaimedPart: Bool {
        let word = claims.load(ordering: .sequentiallyConsistent)
        return word & 0xff < (word >> 8) & 0xff
    }

    /// Stops and joins the workers (called once, when the owning `GEMMThreads` is released).
    func stop() {
        pthread_mutex_lock(dispatchLock)
        stopping.store(true, ordering: .sequentiallyConsistent)
        for index in 0 ..< threads.count { sem_post(wake + index) }
        for thread in threads { pthread_join(thread, nil) }
        threads.removeAll()
        pthread_mutex_unlock(dispatchLock)
    }

    /// Body of worker `index`: claim and run parts while there are any; poll a while; sleep until woken.
    fileprivate func work(index: Int) {
        let flag = sleeping + index
        while !stopping.load(ordering: .relaxed) {
            if let part = claim() {
                job.pointee.run(part: part)
                sem_post(done)
                continue
            }
            let deadline = Self.monotonicNanoseconds() + Self.spinNanoseconds
            while !hasUnclaimedPart && Self.monotonicNanoseconds() < deadline { sched_yield() }
            if hasUnclaimedPart { continue }
            // Announce the sleep, then look once more: a dispatch either sees the flag (and posts) or published
            // its job before this look (and the flag is taken back here).
            flag.pointee.store(true, ordering: .sequentiallyConsistent)
            if hasUnclaimedPart && flag.pointee.exchange(false, ordering: .sequentiallyConsistent) { continue }
            while sem_wait(wake + index) != 0 {}  // retried on EINTR
        }
    }

    /// Takes one count of `semaphore`: polls it for up to `spinNanoseconds`, then sleeps.
    private static func wait(_ semaphore: UnsafeMutablePointer<sem_t>) {
        if sem_trywait(semaphore) == 0 { return }
        let deadline = monotonicNanoseconds() + spinNanoseconds
        repeat {
            for _ in 0 ..< 64 {
                if sem_trywait(semaphore) == 0 { return }
            }
        } while monotonicNanoseconds() < deadline
        while sem_wait(semaphore) != 0 {}  // retried on EINTR
    }

    private static func monotonicNanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return time.tv_sec * 1_000_000_000 + time.tv_nsec
    }
}

/// What a worker thread is started with.
private final class GEMMWorkerContext {
    let crew: GEMMCrew
    let index: Int
    init(crew: GEMMCrew, index: Int) {
        self.crew = crew
        self.index = index
    }
}

private func gemmWorkerMain(_ context: UnsafeMutableRawPointer?) -> UnsafeMutableRawPointer? {
    guard let context else { return nil }
    let worker = Unmanaged<GEMMWorkerContext>.fromOpaque(context).takeRetainedValue()
    Thread.current.name = "kinevox-gemm"  // the name `ps -L` and `top -H` show
    worker.crew.work(index: worker.index)
    return nil
}
