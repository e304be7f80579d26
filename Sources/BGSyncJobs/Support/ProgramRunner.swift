import Foundation

/// Runs a program without a shell: argv as given, input on stdin, output captured (bounded),
/// killed after a timeout. Used for `exec` factories, token commands and hooks.
public enum ProgramRunner {
    /// What a program did.
    public struct Outcome: Sendable {
        /// The exit status, or nil when it was killed (timeout, signal).
        public var status: Int32?
        /// Standard output (at most `maxOutput` bytes).
        public var stdout: [UInt8]
        /// Standard error (at most `maxOutput` bytes).
        public var stderr: [UInt8]
        /// Whether it ran past the timeout and was killed.
        public var timedOut: Bool
    }

    /// Runs `argv[0]` with `argv[1…]`; `environment` replaces the child's environment when given.
    public static func run(_ argv: [String], input: [UInt8] = [], environment: [String: String]? = nil,
                           timeout: Double = 30, maxOutput: Int = 4 << 20) throws -> Outcome {
        guard let program = argv.first, !program.isEmpty else {
            throw JobError(.configuration, "an empty command")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = Array(argv.dropFirst())
        if let environment { process.environment = environment }
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw JobError(.configuration, "\(program): cannot run it (\(error.localizedDescription)); give an absolute path to an executable")
        }
        let collected = Collected()
        let group = DispatchGroup()
        for (handle, isOut) in [(stdout.fileHandleForReading, true), (stderr.fileHandleForReading, false)] {
            group.enter()
            DispatchQueue.global().async {
                var data = [UInt8]()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    if data.count < maxOutput { data += chunk.prefix(maxOutput - data.count) }
                }
                collected.set(data, out: isOut)
                group.leave()
            }
        }
        DispatchQueue.global().async {
            try? stdin.fileHandleForWriting.write(contentsOf: Data(input))
            try? stdin.fileHandleForWriting.close()
        }
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.terminate()
                Thread.sleep(forTimeInterval: 0.2)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                break
            }
            Thread.sleep(forTimeInterval: 0.005)
        }
        process.waitUntilExit()
        _ = group.wait(timeout: .now() + 2)
        let status: Int32? = timedOut || process.terminationReason == .uncaughtSignal ? nil : process.terminationStatus
        let (out, err) = collected.values
        return Outcome(status: status, stdout: out, stderr: err, timedOut: timedOut)
    }

    private final class Collected: @unchecked Sendable {
        private let lock = NSLock()
        private var out: [UInt8] = []
        private var err: [UInt8] = []
        func set(_ data: [UInt8], out isOut: Bool) {
            lock.lock()
            if isOut { out = data } else { err = data }
            lock.unlock()
        }
        var values: ([UInt8], [UInt8]) {
            lock.lock()
            defer { lock.unlock() }
            return (out, err)
        }
    }
}
