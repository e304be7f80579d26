import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What one run of a child process cost, as `wait4` reports it.
struct ProcessMeasurement: Sendable {
    /// From just before `posix_spawn` to `wait4` returning, in seconds.
    var wallSeconds: Double
    /// The child's peak resident set size in bytes: the highest `VmHWM` of `/proc/PID/status`
    /// seen while it ran (see ``ChildProcess``).
    var peakRSSBytes: Int
    /// The child's user + system CPU time in seconds.
    var cpuSeconds: Double
    /// The exit code, or 128 + signal number when a signal ended it.
    var exitCode: Int32
    /// Everything the child wrote to stdout.
    var stdout: String
    /// Everything the child wrote to stderr.
    var stderr: String
}

/// A failure to start or wait for a child process.
struct ChildProcessError: Error, CustomStringConvertible {
    var description: String
}

/// Runs programs as separate processes, as a user's shell would, and measures them: wall time
/// and CPU time from `wait4`, peak RSS from the child's own `VmHWM`.
///
/// Why not `ru_maxrss`: Linux keeps the high-water mark of the memory a process replaces at
/// `exec`, and `posix_spawn` execs from the parent's address space (`CLONE_VFORK`), so every
/// child would report at least this process's own RSS (the in-process server and its data).
/// `VmHWM` belongs to the child's new address space only. It is sampled every
/// ``rssSampleInterval`` by a thread of its own until the child exits; being a high-water
/// mark, a sample misses only growth in the child's last interval.
enum ChildProcess {
    /// How often `/proc/PID/status` is read while a child runs.
    static let rssSampleInterval: useconds_t = 2_000
    /// Runs `executable` with `arguments` and `environment`, its stdin from /dev/null and its
    /// stdout/stderr into files under `scratch`; returns when it has exited.
    ///
    /// The blocking `wait4` runs on a thread of its own, never on the concurrency pool, so the
    /// in-process fixture server keeps answering the child meanwhile.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String], scratch: String) async throws -> ProcessMeasurement {
        try Interruption.check()
        let outPath = scratch + "/child.stdout"
        let errPath = scratch + "/child.stderr"
        let measured: (Double, rusage, Int32, Int) = try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do {
                    continuation.resume(returning: try spawnAndWait(executable, arguments, environment, outPath: outPath, errPath: errPath))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.start()
        }
        let (wall, usage, status, peak) = measured
        let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        let signal = status & 0x7f
        let exitCode = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        let cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime)
        return ProcessMeasurement(wallSeconds: wall, peakRSSBytes: peak, cpuSeconds: cpu,
                                  exitCode: exitCode, stdout: stdout, stderr: stderr)
    }

    /// User + system CPU time of this process so far.
    static func ownCPUSeconds() -> Double {
        var usage = rusage()
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    private static func seconds(_ time: timeval) -> Double {
        Double(time.tv_sec) + Double(time.tv_usec) / 1_000_000
    }

    private static func spawnAndWait(_ executable: String, _ arguments: [String], _ environment: [String: String],
                                     outPath: String, errPath: String) throws -> (Double, rusage, Int32, Int) {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let started = DispatchTime.now().uptimeNanoseconds
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        guard spawned == 0 else {
            throw ChildProcessError(description: "cannot start \(executable): \(String(cString: strerror(spawned)))")
        }
        Interruption.track(pid)
        defer { Interruption.track(nil) }
        // posix_spawn returns once the child has exec'd, so every sample is of its own memory.
        let sampler = RSSSampler(pid: pid)
        sampler.start()
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else {
                sampler.stop()
                throw ChildProcessError(description: "wait4 for \(executable) failed: \(String(cString: strerror(errno)))")
            }
        }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - started) / 1_000_000_000
        return (wall, usage, status, sampler.stop())
    }
}

/// Samples `VmHWM` of one process on a thread of its own until stopped.
final class RSSSampler: Sendable {
    private let pid: pid_t
    private let state = Mutex((stopped: false, peak: 0))
    private let finished = DispatchSemaphore(value: 0)

    init(pid: pid_t) {
        self.pid = pid
    }

    func start() {
        Thread { [self] in
            while !state.withLock({ $0.stopped }) {
                if let hwm = Self.highWaterMark(pid) { state.withLock { $0.peak = max($0.peak, hwm) } }
                usleep(ChildProcess.rssSampleInterval)
            }
            finished.signal()
        }.start()
    }

    /// Stops sampling; returns the highest `VmHWM` seen, in bytes (0 if none was read).
    @discardableResult
    func stop() -> Int {
        state.withLock { $0.stopped = true }
        finished.wait()
        return state.withLock { $0.peak }
    }

    /// `VmHWM` of `/proc/PID/status` in bytes; nil once the process has exited.
    static func highWaterMark(_ pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            let digits = line.dropFirst(6).filter(\.isNumber)
            return Int(digits).map { $0 * 1024 }
        }
        return nil
    }
}
