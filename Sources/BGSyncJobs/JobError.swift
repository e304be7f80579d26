/// A problem with a job file, a registry, a factory or a credential: names the file and key at
/// fault and what would be accepted. Each kind maps to one exit code.
public struct JobError: Error, Sendable, CustomStringConvertible {
    /// The kind of problem.
    public enum Kind: String, Sendable {
        /// The job file or registry is invalid, a factory failed. Exit 78.
        case configuration
        /// A file named on the command line (a job file, a database, an input) does not exist,
        /// is a directory, or would go in a directory that does not exist; or a tag no job has.
        /// Exit 66.
        case missingFile
        /// A credential or configuration file is readable or writable by others, or a file this
        /// user may not read or write. Exit 77.
        case permission
    }

    /// The kind of problem.
    public let kind: Kind
    /// The whole message: `file:line: key: problem; accepted: …`.
    public let message: String

    /// Creates an error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// A configuration error at `key` of `file` (with a line when known).
    static func config(_ file: String, line: Int? = nil, key: String?, _ problem: String) -> JobError {
        var location = file
        if let line { location += ":\(line)" }
        if let key { location += ": \(key)" }
        return JobError(.configuration, "\(location): \(problem)")
    }

    public var description: String { message }
}

/// "Did you mean" suggestions for misspelt keys (Levenshtein distance).
enum Suggestion {
    static func closest(to word: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, distance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return nil }
        return best.0
    }

    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// `unknown key "intervall" (did you mean "interval"?); accepted: a, b, c`.
    static func unknownKey(_ key: String, accepted: [String]) -> String {
        var text = "unknown key \"\(key)\""
        if let close = closest(to: key, among: accepted) { text += " (did you mean \"\(close)\"?)" }
        return text + "; accepted: " + accepted.joined(separator: ", ")
    }
}
