import Foundation

/// The outcome of a finished child process.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: [UInt8]
    var stderr: [UInt8]

    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}

/// Runs other programs (the `sqlite3` shell, `python3`) as child processes, the way an
/// application sharing a bgsync database would.
enum Subprocess {
    /// Runs `executable` with `arguments`, feeding `input` on standard input (empty when nil),
    /// and waits for it to finish. Output is read concurrently, so large outputs cannot block.
    static func run(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) throws -> ProcessResult {
        let running = try start(executable, arguments, input: input)
        return running.wait()
    }

    /// Starts a child process without waiting for it.
    static func start(_ executable: String, _ arguments: [String], input: [UInt8]? = nil) throws -> RunningProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        let stdin: Pipe?
        if input != nil {
            stdin = Pipe()
            process.standardInput = stdin
        } else {
            stdin = nil
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
        let running = RunningProcess(process: process)
        running.collect(stdout.fileHandleForReading, isStandardOutput: true)
        running.collect(stderr.fileHandleForReading, isStandardOutput: false)
        if let stdin, let input {
            let handle = stdin.fileHandleForWriting
            running.group.enter()
            Thread.detachNewThread {
                try? handle.write(contentsOf: Data(input))
                try? handle.close()
                running.group.leave()
            }
        }
        return running
    }

    /// `/usr/bin/sqlite3` (or the first `sqlite3` on `PATH`).
    static var sqlite3: String { find("sqlite3", preferring: ["/usr/bin/sqlite3"]) }

    /// A `python3` with its `sqlite3` module.
    static var python3: String { find("python3", preferring: ["/usr/bin/python3"]) }

    /// Runs SQL through the `sqlite3` shell on `database`.
    static func sqlite(_ database: String, _ sql: String) throws -> ProcessResult {
        try run(sqlite3, ["-batch", "-bail", database], input: Array(sql.utf8))
    }

    /// Runs a Python program (given as text) with `arguments` in `sys.argv[1...]`.
    static func python(_ program: String, _ arguments: [String] = []) throws -> ProcessResult {
        try run(python3, ["-c", program] + arguments)
    }

    private static func find(_ name: String, preferring candidates: [String]) -> String {
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            return candidate
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return candidates.first ?? name
    }
}

/// A started child process whose output is being collected.
final class RunningProcess: @unchecked Sendable {
    let process: Process
    let group = DispatchGroup()
    private let lock = NSLock()
    private var stdout: [UInt8] = []
    private var stderr: [UInt8] = []

    init(process: Process) { self.process = process }

    var isRunning: Bool { process.isRunning }

    fileprivate func collect(_ handle: FileHandle, isStandardOutput: Bool) {
        group.enter()
        Thread.detachNewThread { [self] in
            let data = [UInt8]((try? handle.readToEnd()) ?? Data())
            lock.lock()
            if isStandardOutput { stdout = data } else { stderr = data }
            lock.unlock()
            group.leave()
        }
    }

    /// Waits for the process to exit and its output to be read.
    func wait() -> ProcessResult {
        group.wait()
        process.waitUntilExit()
        lock.lock()
        defer { lock.unlock() }
        return ProcessResult(status: process.terminationStatus, stdout: stdout, stderr: stderr)
    }
}

extension Subprocess {
    /// The output of a query run by the `sqlite3` shell on `database`, trimmed; throws when the
    /// shell fails.
    static func query(_ database: String, _ sql: String) throws -> String {
        let result = try sqlite(database, sql)
        if result.status != 0 {
            throw SubprocessFailure(description: "sqlite3 exited \(result.status): \(result.stderrText)")
        }
        return result.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A child process failed.
struct SubprocessFailure: Error, CustomStringConvertible {
    var description: String
}
