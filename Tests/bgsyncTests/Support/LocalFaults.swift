import BGSyncTestSupport
import Foundation
import GRDB
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Runs a helper program (mount, chattr, prlimit …) and waits for it off the concurrency pool.
/// - Returns: its exit status and its output (stdout and stderr together).
@discardableResult
func runTool(_ program: String, _ arguments: [String]) async throws -> (status: Int32, output: String) {
    let ended = try await TestProcess(program, arguments, stderr: .standardOutput).finish()
    return (ended.status, ended.stdout)
}

/// The first of `candidates` that is an executable file.
func findTool(_ candidates: String...) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Waits for `process`, SIGKILLing it if it has not ended after `limit` seconds (a hang).
/// - Returns: the run, and whether it had to be killed.
func finish(_ process: TestProcess, killingAfter limit: Double) async throws -> (run: DBCommandTests.Run, hung: Bool) {
    let pid = process.pid
    let watchdog = Task {
        try await Task.sleep(nanoseconds: UInt64(limit * 1_000_000_000))
        kill(pid, SIGKILL)
        return true
    }
    let run = try await process.finish()
    watchdog.cancel()
    let hung = (try? await watchdog.value) ?? false
    return (run, hung)
}

/// Another process's connection to an SQLite file that holds `BEGIN EXCLUSIVE` (the write
/// lock, in WAL mode) on a thread of its own until ``release()``.
final class SQLiteLockHolder: @unchecked Sendable {
    private let acquired = DispatchSemaphore(value: 0)
    private let released = DispatchSemaphore(value: 0)
    private var failure: (any Error)?

    /// Takes the lock; returns once it is held.
    init(path: String) async throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        let (acquired, released) = (self.acquired, self.released)
        let thread = Thread { [self] in
            do {
                try queue.inDatabase { db in
                    try db.execute(sql: "BEGIN EXCLUSIVE")
                    acquired.signal()
                    released.wait()
                    try db.execute(sql: "ROLLBACK")
                }
            } catch {
                failure = error
                acquired.signal()
            }
        }
        thread.start()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                acquired.wait()
                continuation.resume()
            }.start()
        }
        if let failure { throw failure }
    }

    func release() { released.signal() }
}
