import BGSyncTestSupport
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Helpers for tests that need other processes.
enum StateTestProcess {
    /// Finds an executable on `PATH`.
    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The pid of a process that has exited and been reaped: certainly not alive (until reused).
    static func deadPID() throws -> Int32 {
        let process = try TestProcess(which("true") ?? "/bin/true", stdout: .discard, stderr: .discard)
        _ = try process.wait()
        return process.pid
    }

    /// Polls `condition` every 10 ms for up to `seconds`.
    static func eventually(within seconds: Double = 5, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(10_000)
        }
        return try condition()
    }
}

/// Whole-second dates, exact through the state database's REAL columns.
func stateTestDate(_ offset: Double = 0) -> Date {
    Date(timeIntervalSince1970: 1_795_000_000 + offset)
}
