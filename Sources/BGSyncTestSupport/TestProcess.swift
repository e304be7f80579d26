import Foundation

/// The one way the tests start a program as a child process: the built `bgsync` binary, the
/// `sqlite3` shell, `python3`, `chattr`, `mount`, `systemd-analyze`, `/usr/bin/time` …
///
/// * The program gets `arguments` as given (no shell, no `PATH` search), `environment` when
///   given (else this process's), and runs in `currentDirectory` when given. Nothing here
///   changes this process's environment or current directory: tests run in parallel.
/// * Standard input is `input` when given (from a file, so the child reads it at its own pace),
///   else `/dev/null`.
/// * Standard output and error go where ``Output`` says. Collected output goes to files, not
///   pipes, and is read once the child has exited: a large output cannot fill a pipe and block
///   the child, and a grandchild that keeps the descriptor open (a hook's background job)
///   cannot keep the test waiting for an end of file.
/// * One thread of its own waits for the child (``startedAt``, ``exitedAt`` are taken around
///   it), so neither ``finish()`` nor ``finishMeasuringPeakMemory()`` blocks a thread of the
///   concurrency pool. A test process's pool is busy (one thread per core, tests in parallel)
///   and often hosts the fixture server the child talks to; a pool thread blocked in a wait,
///   or an exit time taken when the pool gets round to it, would stall the server or add the
///   pool's backlog to a measured time.
/// * ``wait()`` blocks the calling thread, for synchronous tests.
///
/// ```swift
/// let result = try TestProcess.run("/usr/bin/sqlite3", [path, "PRAGMA user_version;"])
/// let running = try TestProcess(binary, ["run", job], environment: sandbox.environment)
/// kill(running.pid, SIGTERM)
/// let ended = try await running.finish()
/// ```
public final class TestProcess: @unchecked Sendable {
    /// The child's process id, for signals (valid until the child is waited for).
    public let pid: Int32
    /// Just before the child was started.
    public let startedAt: Date

    private let process: Process
    private let state = Locked(State())
    private let exited = DispatchGroup()

    private struct State {
        var exitedAt: Date?
        var outcome: Swift.Result<Result, any Error>?
        var waiting: [CheckedContinuation<Swift.Result<Result, any Error>, Never>] = []
    }

    /// Starts `executable` with `arguments`; returns once it runs.
    /// - Parameters:
    ///   - environment: the child's whole environment; nil: this process's.
    ///   - currentDirectory: where the child runs; nil: this process's current directory.
    ///   - input: the child's standard input; nil: `/dev/null`.
    ///   - stdout: where standard output goes.
    ///   - stderr: where standard error goes.
    /// - Throws: when a file cannot be made or opened, or the program cannot be started.
    public init(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                currentDirectory: String? = nil, input: [UInt8]? = nil,
                stdout: Output = .collect, stderr: Output = .collect) throws {
        if stdout == .standardOutput { throw Failure(description: "standard output cannot go to standard output") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        var scratch: URL?
        if input != nil || stdout == .collect || stderr == .collect {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("bgsync-child-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
            scratch = directory
        }
        var opened = Opened()
        do {
            if let input, let scratch {
                let file = scratch.appendingPathComponent("stdin")
                try Data(input).write(to: file)
                process.standardInput = try opened.keep(FileHandle(forReadingFrom: file))
            } else {
                process.standardInput = FileHandle.nullDevice
            }
            let out = try opened.handle(for: stdout, scratch: scratch, name: "stdout")
            process.standardOutput = out
            if stderr == .standardOutput {
                process.standardError = out
            } else {
                process.standardError = try opened.handle(for: stderr, scratch: scratch, name: "stderr")
            }
            startedAt = Date()
            try process.run()
        } catch {
            opened.closeAll()
            if let scratch { try? FileManager.default.removeItem(at: scratch) }
            throw error
        }
        self.process = process
        pid = process.processIdentifier
        exited.enter()
        let collected = (stdout == .collect, stderr == .collect)
        let (handles, directory) = (opened, scratch)
        Thread { [self] in
            self.process.waitUntilExit()
            let exitedAt = Date()
            handles.closeAll()
            let outcome = Swift.Result<Result, any Error> { () throws -> Result in
                func read(_ name: String, _ wanted: Bool) throws -> String {
                    guard wanted, let directory else { return "" }
                    return String(decoding: try Data(contentsOf: directory.appendingPathComponent(name)), as: UTF8.self)
                }
                let status = self.process.terminationStatus
                let signalled = self.process.terminationReason == .uncaughtSignal
                return Result(status: signalled ? 128 + status : status, signal: signalled ? status : nil,
                              stdout: try read("stdout", collected.0), stderr: try read("stderr", collected.1))
            }
            if let directory { try? FileManager.default.removeItem(at: directory) }
            let waiting = state.withLock { state in
                state.exitedAt = exitedAt
                state.outcome = outcome
                defer { state.waiting = [] }
                return state.waiting
            }
            exited.leave()
            for continuation in waiting { continuation.resume(returning: outcome) }
        }.start()
    }

    /// Starts a program and waits for it, blocking the calling thread (see ``init(_:_:environment:currentDirectory:input:stdout:stderr:)``).
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                           currentDirectory: String? = nil, input: [UInt8]? = nil,
                           stdout: Output = .collect, stderr: Output = .collect) throws -> Result {
        try TestProcess(executable, arguments, environment: environment, currentDirectory: currentDirectory, input: input,
                        stdout: stdout, stderr: stderr).wait()
    }

    /// Whether the child has not exited yet.
    public var isRunning: Bool { process.isRunning }

    /// When the child exited, taken on the thread that waits for it; nil until then.
    public var exitedAt: Date? { state.withLock { $0.exitedAt } }

    /// Waits for the child, blocking the calling thread.
    /// - Throws: when its collected output cannot be read back.
    public func wait() throws -> Result {
        exited.wait()
        guard let outcome = state.withLock({ $0.outcome }) else { throw Failure(description: "no outcome after the exit") }
        return try outcome.get()
    }

    /// Waits for the child without blocking a thread of the concurrency pool.
    /// - Throws: when its collected output cannot be read back.
    public func finish() async throws -> Result {
        let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<Swift.Result<Result, any Error>, Never>) in
            let ready = state.withLock { state -> Swift.Result<Result, any Error>? in
                if let outcome = state.outcome { return outcome }
                state.waiting.append(continuation)
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
        return try outcome.get()
    }

    /// Like ``finish()``, also sampling the child's peak resident memory (`VmHWM` of
    /// `/proc/PID/status`, a high-water mark, read every 10 ms on a thread of its own until the
    /// child exits), in KiB.
    public func finishMeasuringPeakMemory() async throws -> (result: Result, peakKiB: Int) {
        let path = "/proc/\(pid)/status"
        let peak = await withCheckedContinuation { (continuation: CheckedContinuation<Int, Never>) in
            Thread { [self] in
                var peak = 0
                while isRunning {
                    if let text = try? String(contentsOfFile: path, encoding: .utf8),
                       let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
                       let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                        peak = max(peak, kib)
                    }
                    usleep(10_000)
                }
                continuation.resume(returning: peak)
            }.start()
        }
        return (try await finish(), peak)
    }
}

extension TestProcess {
    /// Where a child's standard output or standard error goes.
    public enum Output: Sendable, Equatable {
        /// Into ``Result/stdout`` or ``Result/stderr`` (through a file, read after the exit).
        case collect
        /// To `/dev/null`.
        case discard
        /// Into the file at this path, written from its start; created when missing, never
        /// truncated or replaced (its device and inode stay those the caller may have noted).
        case file(String)
        /// Standard error only: the descriptor of standard output, so both are in one stream,
        /// in the order written.
        case standardOutput
    }

    /// How a child ended and what it wrote.
    public struct Result: Sendable, Equatable {
        /// The exit status, or 128 + the signal number when a signal ended the child (as a shell
        /// reports it).
        public var status: Int32
        /// The signal that ended the child; nil when it exited by itself.
        public var signal: Int32?
        /// Standard output (UTF-8, invalid bytes replaced) when ``Output/collect``ed, else empty.
        public var stdout: String
        /// Standard error (UTF-8, invalid bytes replaced) when ``Output/collect``ed, else empty.
        public var stderr: String
    }

    /// A child could not be set up or its result was not there.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The descriptors opened for a child, closed in this process once it has exited.
    private struct Opened {
        private var handles: [FileHandle] = []

        mutating func keep(_ handle: FileHandle) -> FileHandle {
            handles.append(handle)
            return handle
        }

        mutating func handle(for output: Output, scratch: URL?, name: String) throws -> FileHandle {
            switch output {
            case .discard, .standardOutput:
                return FileHandle.nullDevice
            case .collect:
                guard let scratch else { throw Failure(description: "no scratch directory for \(name)") }
                let file = scratch.appendingPathComponent(name)
                FileManager.default.createFile(atPath: file.path, contents: nil)
                return keep(try FileHandle(forWritingTo: file))
            case .file(let path):
                if !FileManager.default.fileExists(atPath: path) { FileManager.default.createFile(atPath: path, contents: nil) }
                return keep(try FileHandle(forWritingTo: URL(fileURLWithPath: path)))
            }
        }

        func closeAll() {
            for handle in handles { try? handle.close() }
        }
    }
}
