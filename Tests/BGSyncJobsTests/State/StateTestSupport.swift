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

    /// Starts a process (not waited for).
    static func start(_ executable: String, _ arguments: [String]) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The pid of a process that has exited and been reaped: certainly not alive (until reused).
    static func deadPID() throws -> Int32 {
        let process = try start(which("true") ?? "/bin/true", [])
        process.waitUntilExit()
        return process.processIdentifier
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
