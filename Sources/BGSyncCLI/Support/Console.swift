import BGSyncJobs
import Foundation

/// Writes to standard output and standard error.
enum Console {
    /// Prints a line on standard output.
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Prints an error on standard error through the same handler as the log
    /// (``BGSyncLogHandler``): `bgsync: error: …` when piped, `<3>…` under journald, a
    /// timestamped and coloured line on a terminal; URL user info is redacted.
    static func error(_ message: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        let handler = BGSyncLogHandler.standardError(environment: environment)
        BGSyncLogHandler.write(handler.format(level: .error, message: message, metadata: nil, date: Date()), to: handler.descriptor)
    }

    /// Reads a whole file, or standard input for `-`.
    static func readInput(_ path: String) throws -> [UInt8] {
        if path == "-" {
            return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        try InputFile.checkReadable(path, what: "file")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw JobError(.permission, "\(path): the file cannot be read")
        }
        return [UInt8](data)
    }
}
