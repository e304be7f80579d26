import Foundation

/// Writes to standard output and standard error.
enum Console {
    /// Prints a line on standard output.
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// Prints `bgsync: error: …` on standard error.
    static func error(_ message: String) {
        FileHandle.standardError.write(Data("bgsync: error: \(message)\n".utf8))
    }

    /// Reads a whole file, or standard input for `-`.
    static func readInput(_ path: String) throws -> [UInt8] {
        if path == "-" {
            return [UInt8](FileHandle.standardInput.readDataToEndOfFile())
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw InputFileError(message: "\(path): no such file or not readable")
        }
        return [UInt8](data)
    }
}
