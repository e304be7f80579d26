import BGSyncTestSupport
import Foundation

/// Other programs (the `sqlite3` shell, `python3`) run as child processes (``TestProcess``), the
/// way an application sharing a bgsync database would.
enum Subprocess {
    /// `/usr/bin/sqlite3` (or the first `sqlite3` on `PATH`).
    static var sqlite3: String { find("sqlite3", preferring: ["/usr/bin/sqlite3"]) }

    /// A `python3` with its `sqlite3` module.
    static var python3: String { find("python3", preferring: ["/usr/bin/python3"]) }

    /// Runs SQL through the `sqlite3` shell on `database`.
    static func sqlite(_ database: String, _ sql: String) throws -> TestProcess.Result {
        try TestProcess.run(sqlite3, ["-batch", "-bail", database], input: Array(sql.utf8))
    }

    /// Runs a Python program (given as text) with `arguments` in `sys.argv[1...]`.
    static func python(_ program: String, _ arguments: [String] = []) throws -> TestProcess.Result {
        try TestProcess.run(python3, ["-c", program] + arguments)
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

extension Subprocess {
    /// The output of a query run by the `sqlite3` shell on `database`, trimmed; throws when the
    /// shell fails.
    static func query(_ database: String, _ sql: String) throws -> String {
        let result = try sqlite(database, sql)
        if result.status != 0 {
            throw SubprocessFailure(description: "sqlite3 exited \(result.status): \(result.stderr)")
        }
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// A child process failed.
struct SubprocessFailure: Error, CustomStringConvertible {
    var description: String
}
