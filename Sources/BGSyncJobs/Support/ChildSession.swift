#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One run of a program, on the calling thread: spawn, then one `poll(2)` loop that writes
/// stdin, reads stdout and stderr (bounded), notices the exit (pidfd) and wakes for the deadline
/// or a cancellation; kills the process group when either comes first.
struct ChildSession {
    /// The outcome, and whether the run stopped because `wake` became readable.
    struct Finished: Sendable {
        var outcome: ChildProcess.Outcome
        var cancelled: Bool
    }

    /// Runs `request`; `wake`, when readable, means "stop now" (cancellation).
    static func execute(_ request: ChildRequest, wake: Int32?) throws -> Finished {
        _ = ChildProcess.ignoreSIGPIPE
        if let wake, isReadable(wake) {
            return Finished(outcome: ChildProcess.Outcome(status: nil, signal: nil, stdout: [], stderr: [], timedOut: false), cancelled: true)
        }
        let deadline = monotonicNow() + max(0, request.timeout)
        var session = ChildSession(child: try ChildSpawn.start(request.argv, environment: request.environment),
                                   input: request.input, maxOutput: request.maxOutput)
        defer { session.closeAll() }
        return session.drive(deadline: deadline, wake: wake)
    }

    private var child: SpawnedChild
    private let input: [UInt8]
    private var written = 0
    private let maxOutput: Int
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []
    /// Readable when the child has exited; -1 without pidfd support.
    private var pidfd: Int32 = -1
    /// The raw wait status, once reaped.
    private var waitStatus: Int32?

    private init(child: SpawnedChild, input: [UInt8], maxOutput: Int) {
        self.child = child
        self.input = input
        self.maxOutput = max(0, maxOutput)
        if let open = Native.pidfdOpen { pidfd = open(child.pid, 0) }
        if input.isEmpty { closeStdin() }
    }

    private var outputOpen: Bool { child.stdout >= 0 || child.stderr >= 0 }

    private mutating func drive(deadline: Double, wake: Int32?) -> Finished {
        var timedOut = false, cancelled = false
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 1)
        defer { buffer.deallocate() }
        // Without a pidfd, the exit is noticed by waitpid(WNOHANG) after the output closed, at
        // growing intervals (1 ms to 50 ms): a program closes its output as it exits.
        var exitCheckInterval = 0.001
        while waitStatus == nil || outputOpen {
            let remaining = deadline - Self.monotonicNow()
            if remaining <= 0 { timedOut = true; break }
            var entries: [pollfd] = []
            for (fd, events) in [(wake ?? -1, POLLIN), (child.stdin, POLLOUT), (child.stdout, POLLIN),
                                 (child.stderr, POLLIN), (waitStatus == nil ? pidfd : -1, POLLIN)] where fd >= 0 {
                entries.append(pollfd(fd: fd, events: Int16(events), revents: 0))
            }
            var wait = remaining
            if waitStatus == nil && pidfd < 0 && !outputOpen {
                wait = min(wait, exitCheckInterval)
                exitCheckInterval = min(exitCheckInterval * 2, 0.05)
            }
            let ready = poll(&entries, nfds_t(entries.count), Int32(min(wait * 1000, 3_600_000).rounded(.up)))
            if ready < 0 && errno != EINTR { break }
            let wakeEnd = wake ?? -1
            for entry in entries where entry.revents != 0 {
                switch entry.fd {
                case wakeEnd: cancelled = true
                case child.stdin: writeInput()
                case child.stdout: drain(&child.stdout, into: &stdout, buffer)
                case child.stderr: drain(&child.stderr, into: &stderr, buffer)
                default: break  // the pidfd: reaped below
                }
            }
            if cancelled { break }
            if waitStatus == nil && (pidfd >= 0 ? entries.contains { $0.fd == pidfd && $0.revents != 0 } : !outputOpen) {
                reap(blocking: false)
            }
        }
        // The deadline, a cancellation, or (never seen) a failing poll: stop the whole group.
        if timedOut || cancelled || waitStatus == nil { killGroup() }
        let status = waitStatus ?? 0
        let exited = status & 0x7f == 0
        let outcome = ChildProcess.Outcome(
            status: exited && !timedOut && !cancelled ? (status >> 8) & 0xff : nil,
            signal: exited || waitStatus == nil ? nil : status & 0x7f,
            stdout: stdout, stderr: stderr, timedOut: timedOut && !cancelled)
        return Finished(outcome: outcome, cancelled: cancelled)
    }

    /// Writes what the pipe takes now; closes stdin when all is written or the child is not
    /// reading any more (EPIPE: it exited or closed its stdin — normal).
    private mutating func writeInput() {
        while written < input.count {
            let count = input.withUnsafeBytes { bytes in
                write(child.stdin, bytes.baseAddress! + written, bytes.count - written)
            }
            if count > 0 { written += count; continue }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return }
            break  // EPIPE or another error: the child does not want the rest
        }
        closeStdin()
    }

    /// Reads what is there; keeps up to `maxOutput` bytes, discards the rest; closes at EOF.
    private func drain(_ fd: inout Int32, into kept: inout [UInt8], _ buffer: UnsafeMutableRawBufferPointer) {
        while true {
            let count = read(fd, buffer.baseAddress, buffer.count)
            if count > 0 {
                if kept.count < maxOutput { kept += buffer.prefix(min(count, maxOutput - kept.count)) }
                if count < buffer.count { return }
                continue
            }
            if count < 0 && errno == EINTR { continue }
            if count < 0 && errno == EAGAIN { return }
            close(fd)  // EOF or an error
            fd = -1
            return
        }
    }

    private mutating func reap(blocking: Bool) {
        var status: Int32 = 0
        while true {
            let result = waitpid(child.pid, &status, blocking ? 0 : WNOHANG)
            if result == child.pid { waitStatus = status; return }
            if result < 0 && errno == EINTR { continue }
            if result < 0 { waitStatus = waitStatus ?? 0 }  // ECHILD: reaped elsewhere; nothing to wait for
            return
        }
    }

    /// SIGTERM to the whole group; SIGKILL to whatever is left of it (children the program
    /// started) once the program has exited, or after ``ChildProcess/killGrace``; the program
    /// reaped. (Whether other members are still alive cannot be told apart from unreaped
    /// zombies, so the program's own exit decides.)
    private mutating func killGroup() {
        let group = child.pid
        _ = kill(-group, SIGTERM)
        let graceEnd = Self.monotonicNow() + ChildProcess.killGrace
        var interval = 0.001
        while waitStatus == nil {
            reap(blocking: false)
            let remaining = graceEnd - Self.monotonicNow()
            if waitStatus != nil || remaining <= 0 { break }
            if pidfd >= 0 {
                var entry = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
                _ = poll(&entry, 1, Int32((remaining * 1000).rounded(.up)))
            } else {
                usleep(useconds_t(min(interval, remaining) * 1e6))
                interval = min(interval * 2, 0.05)
            }
        }
        _ = kill(-group, SIGKILL)
        if waitStatus == nil { reap(blocking: true) }
    }

    private mutating func closeStdin() {
        ChildSpawn.closeIfOpen(child.stdin)
        child.stdin = -1
    }

    mutating func closeAll() {
        closeStdin()
        for fd in [child.stdout, child.stderr, pidfd] { ChildSpawn.closeIfOpen(fd) }
        child.stdout = -1; child.stderr = -1; pidfd = -1
    }

    private static func isReadable(_ fd: Int32) -> Bool {
        var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&entry, 1, 0) > 0
    }

    static func monotonicNow() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
