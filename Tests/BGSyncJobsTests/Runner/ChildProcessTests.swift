import BGSyncJobs
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// ChildProcess: the one runner for hooks, exec factories, token commands and probes. Everything
/// runs in this test process: a SIGPIPE raised in bgsync would kill the test runner.
///
/// Durations are measured on threads of their own: a test's own task may wait long for a thread
/// of the concurrency pool while other suites keep it busy, which says nothing about the runner.
/// Serialized, to add little load to the timing-sensitive suites running beside it.
@Suite("ChildProcess", .serialized, .timeLimit(.minutes(3)))
struct ChildProcessTests {
    /// A script that starts `sleep 30` in the background, writes its pid to `$1`, and waits.
    static let sleeperWithGrandchild = "sleep 30 & echo $! > \"$1\"; wait"

    @Test("exit status, stdout and stderr, argv as given without a shell")
    func statusAndOutput() async throws {
        let outcome = try await ChildProcess.run(["/bin/sh", "-c", "printf '%s|' \"$@\"; echo oops >&2; exit 7", "sh", "a b", "$HOME", "*"])
        #expect(outcome.status == 7)
        #expect(outcome.signal == nil)
        #expect(!outcome.timedOut && !outcome.succeeded)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "a b|$HOME|*|")
        #expect(outcome.stderrTail() == "oops")
        #expect(outcome.ending(timeout: 1) == "exited with 7")

        let killed = try await ChildProcess.run(["/bin/sh", "-c", "kill -9 $$"])
        #expect(killed.status == nil && killed.signal == 9 && !killed.timedOut)
    }

    @Test("the environment is replaced when given; signals are back to default and unblocked in the child")
    func environmentAndSignals() async throws {
        let env = try await ChildProcess.run(["/usr/bin/env"], environment: ["ONLY": "this"])
        #expect(String(decoding: env.stdout, as: UTF8.self) == "ONLY=this\n")

        // bgsync ignores SIGPIPE; the child must not inherit that.
        _ = ChildProcess.ignoreSIGPIPE
        let status = try await ChildProcess.run(["/bin/grep", "-E", "^Sig(Ign|Blk)", "/proc/self/status"])
        let lines = String(decoding: status.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2, "\(lines)")
        let reset = [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT].reduce(UInt64(0)) { $0 | 1 << UInt64($1 - 1) }
        for line in lines {
            let mask = try #require(UInt64(line.split(separator: "\t").last ?? "", radix: 16), "\(line)")
            // SigIgn may list real-time signals that the C library reserves; none of ours.
            #expect(mask & (line.hasPrefix("SigBlk") ? ~0 : reset) == 0, "\(line)")
        }
    }

    @Test("stdin is delivered to /bin/cat; output is captured up to maxOutput, the rest discarded")
    func stdinAndBound() async throws {
        let input = (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let echoed = try await ChildProcess.run(["/bin/cat"], input: input)
        #expect(echoed.succeeded)
        #expect(echoed.stdout == input)

        let bounded = try await ChildProcess.run(["/bin/sh", "-c", "head -c 300000 /dev/zero; head -c 200000 /dev/zero >&2; echo end"],
                                                 maxOutput: 1000)
        #expect(bounded.succeeded, "the child was never blocked by a full pipe")
        #expect(bounded.stdout.count == 1000)
        #expect(bounded.stderr.count == 1000)
    }

    @Test("a child that never reads a large stdin, or closes it early, is normal: no SIGPIPE, no hang")
    func unreadInput() async throws {
        let input = [UInt8](repeating: 0x61, count: 4 << 20)
        let ignoring = try await ChildProcess.run(["/bin/sh", "-c", "exit 0"], input: input, timeout: 20)
        #expect(ignoring.succeeded)
        let trueOutcome = try await ChildProcess.run(["/bin/true"], input: input, timeout: 20)
        #expect(trueOutcome.succeeded)
        let closing = try await ChildProcess.run(["/bin/sh", "-c", "exec 0<&-; sleep 0.2; echo done"], input: input, timeout: 20)
        #expect(closing.succeeded)
        #expect(String(decoding: closing.stdout, as: UTF8.self) == "done\n")
        let head = try await ChildProcess.run(["/usr/bin/head", "-c", "10"], input: input, timeout: 20)
        #expect(head.succeeded && head.stdout.count == 10)
        let synchronous = try await Self.onThread { try ChildProcess.runSynchronously(["/bin/true"], input: input, timeout: 20) }
        #expect(synchronous.value.succeeded)
    }

    @Test("at the timeout the whole process group is killed, the grandchild included")
    func timeoutKillsGroup() async throws {
        let (outcome, elapsed, grandchild) = try await Self.timedRun(Self.sleeperWithGrandchild, timeout: 1)
        #expect(outcome.timedOut && outcome.status == nil && !outcome.succeeded)
        #expect(outcome.ending(timeout: 1) == "timed out after 1s")
        #expect(elapsed >= 0.9 && elapsed < 5, "\(elapsed) s")
        #expect(try await Self.onThread { Self.secondsUntilGone(grandchild) }.value != nil, "the grandchild sleep \(grandchild) survived")

        // A program that ignores SIGTERM gets SIGKILL after the grace (through the async entry).
        let stubborn = try await ChildProcess.run(["/bin/sh", "-c", "trap '' TERM; sleep 30; true"], timeout: 0.5)
        #expect(stubborn.timedOut && stubborn.signal == SIGKILL, "\(stubborn)")
    }

    @Test("reading stops at the deadline when a grandchild holds the output open after the program exited")
    func grandchildHoldingPipe() async throws {
        let (outcome, elapsed, grandchild) = try await Self.timedRun("echo hi; sleep 30 & echo $! > \"$1\"", timeout: 1)
        #expect(outcome.timedOut)
        #expect(String(decoding: outcome.stdout, as: UTF8.self) == "hi\n")
        #expect(elapsed < 5, "\(elapsed) s")
        #expect(try await Self.onThread { Self.secondsUntilGone(grandchild) }.value != nil)
    }

    @Test("cancelling the task kills the process group and throws CancellationError")
    func cancellation() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pidFile = directory + "/grandchild.pid"
        let argv = ["/bin/sh", "-c", Self.sleeperWithGrandchild, "sh", pidFile]
        let task = Task { try await ChildProcess.run(argv, timeout: 60) }
        let waitStart = Date()
        while (try? Self.pid(in: pidFile)) == nil && Date().timeIntervalSince(waitStart) < 20 {
            try await Task.sleep(for: .milliseconds(20))
        }
        let grandchild = try Self.pid(in: pidFile)
        let watcher = Task { try await Self.onThread { Self.secondsUntilGone(grandchild) } }
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        let gone = try await watcher.value.value
        #expect(gone.map { $0 < 5 } == true, "the grandchild was gone after \(gone.map { "\($0) s" } ?? "never")")

        // Already cancelled: the program is not started.
        let marker = directory + "/started"
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await ChildProcess.run(["/bin/sh", "-c", "touch \"$1\"", "sh", marker])
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test("a program that cannot be started is named, with why and what is accepted")
    func cannotStart() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let plain = directory + "/not-executable"
        try Data("#!/bin/sh\n".utf8).write(to: URL(fileURLWithPath: plain))
        let cases: [([String], String)] = [
            (["/nonexistent/program", "x"], "/nonexistent/program: cannot run it: not found"),
            ([plain], "\(plain): cannot run it: permission denied"),
            (["relative-program"], "\"relative-program\" is not an absolute path"),
            ([], "an empty command"),
        ]
        for (argv, expected) in cases {
            do {
                _ = try await ChildProcess.run(argv)
                Issue.record("\(argv) started")
            } catch let error as JobError {
                #expect(error.kind == .configuration)
                #expect(error.message.contains(expected), "\(error.message)")
                if !argv.isEmpty { #expect(error.message.contains("give an absolute path to an executable"), "\(error.message)") }
            }
        }
        #expect(throws: JobError.self) { try ChildProcess.runSynchronously(["/nonexistent/program"]) }
    }

    @Test("no fixed cost per run: prints the time of 200 runs of /bin/true and /bin/cat (BGSYNC_BENCH=1; never asserts timing)",
          .enabled(if: ProcessInfo.processInfo.environment["BGSYNC_BENCH"] == "1"))
    func overhead() async throws {
        let runs = 200
        let input = Array(#"{"user":"alice","n":3}"#.utf8)
        for (name, argv) in [("/bin/true", ["/bin/true"]), ("/bin/cat with a 22-byte input", ["/bin/cat"])] {
            var started = Date()
            for _ in 0..<runs { _ = try await ChildProcess.run(argv, input: input) }
            let async = Date().timeIntervalSince(started) / Double(runs) * 1000
            started = Date()
            for _ in 0..<runs { _ = try ChildProcess.runSynchronously(argv, input: input) }
            let sync = Date().timeIntervalSince(started) / Double(runs) * 1000
            print("ChildProcess \(name): \(String(format: "%.2f", async)) ms per run (async), \(String(format: "%.2f", sync)) ms (synchronous), \(runs) runs")
        }
    }

    // MARK: - Helpers

    static func temporaryDirectory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-child-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Runs `/bin/sh -c script sh PIDFILE` synchronously on a thread of its own (the script
    /// writes a grandchild's pid to `$1`); the outcome, the seconds it took and the grandchild.
    static func timedRun(_ script: String, timeout: Double) async throws -> (outcome: ChildProcess.Outcome, elapsed: Double, grandchild: pid_t) {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let argv = ["/bin/sh", "-c", script, "sh", directory + "/grandchild.pid"]
        let (outcome, elapsed) = try await onThread { try ChildProcess.runSynchronously(argv, timeout: timeout) }
        return (outcome, elapsed, try pid(in: argv[4]))
    }

    /// `body` on a thread of its own, outside the concurrency pool, with the seconds it took there.
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> (value: T, seconds: Double) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                let started = Date()
                continuation.resume(with: Result { (try body(), Date().timeIntervalSince(started)) })
            }.start()
        }
    }

    static func pid(in file: String) throws -> pid_t {
        let text = try String(contentsOfFile: file, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try #require(pid_t(text), "no pid in \(file): \(text.debugDescription)")
    }

    /// Seconds until `pid` is gone or a zombie (dead, not yet reaped by whoever inherited it),
    /// polling every 10 ms on the calling thread; nil when it is still alive after 10 s.
    static func secondsUntilGone(_ pid: pid_t) -> Double? {
        let started = Date()
        while Date().timeIntervalSince(started) < 10 {
            if kill(pid, 0) != 0 { return Date().timeIntervalSince(started) }
            if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
               let state = stat.split(separator: ")").last?.split(separator: " ").first, state == "Z" {
                return Date().timeIntervalSince(started)
            }
            usleep(10_000)
        }
        return nil
    }
}
