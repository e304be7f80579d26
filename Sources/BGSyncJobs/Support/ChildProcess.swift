import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The one way bgsync runs a program: hooks, `exec` factories, bearer `token_command`s, the
/// constraint probes (`nmcli`, `mmcli`) and `bgsync schedule`'s `systemctl` and `crontab`.
///
/// * No shell and no `PATH` search: `argv[0]` is the program's path, `argv` reaches it as given.
/// * `environment`, when given, replaces the child's environment; otherwise it inherits bgsync's.
/// * `input` is written to the child's stdin as it reads it, then stdin is closed. A child that
///   exits or closes its stdin without reading all of it is normal: the rest is dropped. SIGPIPE
///   is ignored in bgsync (``ignoreSIGPIPE``); the child gets the default dispositions back.
/// * stdout and stderr are captured up to `maxOutput` bytes each; the rest is read and
///   discarded, so a chatty child never blocks on a full pipe.
/// * The child runs in a process group of its own. At `timeout` seconds the whole group gets
///   SIGTERM, then SIGKILL after ``killGrace``, and reading stops even when a grandchild still
///   holds a pipe open.
/// * No polling: one thread sleeps in `poll(2)` on the pipes, a pidfd for the child's exit and
///   a wake pipe for cancellation, so `/bin/true` costs a millisecond or two.
///
/// ``run(_:input:environment:timeout:maxOutput:)`` is the primary, cancellable entry; the work
/// happens on a thread of its own (never on Swift's cooperative pool or Dispatch's, where a
/// blocked thread would starve others). ``runSynchronously(_:input:environment:timeout:maxOutput:)``
/// runs the same code on the calling thread, for the few synchronous callers (the probes).
package enum ChildProcess {
    /// What a program did.
    package struct Outcome: Sendable, Equatable {
        /// The exit status when it exited by itself, nil when a signal ended it or it timed out.
        package var status: Int32?
        /// The signal that ended it, when one did (including the SIGTERM/SIGKILL of a timeout).
        package var signal: Int32?
        /// Standard output (at most `maxOutput` bytes).
        package var stdout: [UInt8]
        /// Standard error (at most `maxOutput` bytes).
        package var stderr: [UInt8]
        /// Whether the deadline passed while the program, or something it started, still ran or
        /// held its output open; its process group was then killed.
        package var timedOut: Bool

        /// Exited with status 0 before the deadline.
        package var succeeded: Bool { status == 0 && !timedOut }

        /// How it ended, for messages: "timed out after 5s", "exited with 3", "killed by signal 9".
        package func ending(timeout: Double) -> String {
            if timedOut { return "timed out after \(DurationText.format(timeout))" }
            if let status { return "exited with \(status)" }
            return "killed by signal \(signal.map(String.init) ?? "?")"
        }

        /// The last `limit` bytes of stderr as text, trimmed.
        package func stderrTail(_ limit: Int = 500) -> String {
            String(decoding: stderr.suffix(limit), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
    }

    /// How long the process group has between SIGTERM and SIGKILL at a timeout or cancellation.
    package static let killGrace: Double = 0.5

    /// Runs `argv[0]` with `argv[1…]` on a thread of its own and waits without blocking the
    /// caller's thread.
    ///
    /// Cancelling the calling task kills the process group (SIGTERM, SIGKILL after
    /// ``killGrace``) and throws `CancellationError`; the program is not started when the task
    /// is already cancelled.
    /// - Throws: `CancellationError`; ``JobError`` (configuration) when the program cannot be
    ///   started, naming it and why.
    package static func run(_ argv: [String], input: [UInt8] = [], environment: [String: String]? = nil,
                           timeout: Double = 30, maxOutput: Int = 4 << 20) async throws -> Outcome {
        try Task.checkCancellation()
        let request = ChildRequest(argv: argv, input: input, environment: environment, timeout: timeout, maxOutput: maxOutput)
        let wake = try WakePipe()
        defer { wake.close() }
        let finished: ChildSession.Finished = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let thread = Thread {
                    continuation.resume(with: Result { try ChildSession.execute(request, wake: wake.readEnd) })
                }
                thread.name = "bgsync child \(argv.first ?? "")"
                thread.start()
            }
        } onCancel: {
            wake.signal()
        }
        if finished.cancelled { throw CancellationError() }
        return finished.outcome
    }

    /// The same as ``run(_:input:environment:timeout:maxOutput:)``, blocking the calling thread
    /// (at most `timeout` plus ``killGrace``). For synchronous callers with short timeouts only.
    /// - Throws: ``JobError`` (configuration) when the program cannot be started.
    package static func runSynchronously(_ argv: [String], input: [UInt8] = [], environment: [String: String]? = nil,
                                        timeout: Double = 30, maxOutput: Int = 4 << 20) throws -> Outcome {
        let request = ChildRequest(argv: argv, input: input, environment: environment, timeout: timeout, maxOutput: maxOutput)
        return try ChildSession.execute(request, wake: nil).outcome
    }

    /// Ignores SIGPIPE in this process (once): writing to a pipe whose reader has gone then
    /// fails with EPIPE instead of killing bgsync. The CLI calls it at start; every run calls
    /// it too, for programs that embed the library.
    package static let ignoreSIGPIPE: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()
}

/// One program to run: what ``ChildProcess`` was asked.
struct ChildRequest: Sendable {
    var argv: [String]
    var input: [UInt8]
    var environment: [String: String]?
    var timeout: Double
    var maxOutput: Int
}
