import Glibc

/// A file in shared memory (`/dev/shm`, tmpfs) that a harness rewrites with each input, so product code that
/// opens a path (libsndfile, the model's mmap) reads the input without touching the disk. Removed at exit.
/// One per process, fuzzer thread only.
public final class MemoryFile {
    private let descriptor: Int32
    /// The file's path, opened by the code under test.
    public let path: String

    /// Creates an empty file named after `name` and the process id.
    public init(name: String) {
        path = "/dev/shm/kinevox-fuzz-\(getpid())-\(name)"
        descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o600)
        precondition(descriptor >= 0, "cannot create \(path): \(String(cString: strerror(errno)))")
        let path = self.path
        pathsToRemoveAtExit.append(path)
        if pathsToRemoveAtExit.count == 1 { atexit { pathsToRemoveAtExit.forEach { unlink($0) } } }
    }

    /// Replaces the contents with `size` bytes at `data`.
    public func write(_ data: UnsafePointer<UInt8>?, count size: Int) {
        precondition(ftruncate(descriptor, 0) == 0, "ftruncate \(path) failed")
        var written = 0
        while written < size {
            let n = pwrite(descriptor, data! + written, size - written, off_t(written))
            precondition(n > 0, "pwrite \(path) failed: \(String(cString: strerror(errno)))")
            written += n
        }
    }
}

/// Files to remove when the fuzzer exits (it ends with `exit`, so deinit does not run).
private var pathsToRemoveAtExit: [String] = []
