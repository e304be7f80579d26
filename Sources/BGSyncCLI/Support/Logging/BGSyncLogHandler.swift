import BGSyncJobs
import BGSyncReplication
import Foundation
import Logging
import Synchronization

/// How log lines are written to stderr (DESIGN §5 "State, status and output", §7 journald).
package enum LogStyle: Sendable, Equatable {
    /// `<N>message key=value` for journald (no colour, no timestamp).
    case journald
    /// A terminal: `HH:MM:SS level: message key=value`, coloured when allowed.
    case terminal(colour: Bool)
    /// `bgsync: level: message key=value`.
    case plain

    /// Chooses the style for `descriptor` (stderr) and `environment`. journald only when
    /// `JOURNAL_STREAM` names this descriptor's own `device:inode` (a child of a service
    /// inherits the variable even when redirected); colour only on a TTY without `NO_COLOR`
    /// and with `TERM` other than `dumb`.
    package static func detect(descriptor: Int32, environment: [String: String]) -> LogStyle {
        if let stream = environment["JOURNAL_STREAM"], !stream.isEmpty {
            var info = stat()
            if fstat(descriptor, &info) == 0 {
                let parts = stream.split(separator: ":", omittingEmptySubsequences: false)
                if parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]),
                   device == UInt64(info.st_dev), inode == UInt64(info.st_ino) {
                    return .journald
                }
            }
        }
        if isatty(descriptor) == 1 {
            let noColour = environment["NO_COLOR"].map { !$0.isEmpty } ?? false
            return .terminal(colour: !noColour && environment["TERM"] != "dumb")
        }
        return .plain
    }
}

/// A swift-log handler writing one line per message to a file descriptor (stderr), never
/// printing secrets: URL user info is redacted in messages and metadata values, and metadata
/// keys that name credentials are dropped.
package struct BGSyncLogHandler: LogHandler {
    package var metadata: Logger.Metadata = [:]
    package var logLevel: Logger.Level = .warning
    package let style: LogStyle
    let descriptor: Int32
    let program: String

    /// Metadata keys never printed (compared lowercased; also any key containing one of them).
    static let secretKeys = ["password", "token", "cookie", "authorization"]

    /// Creates a handler writing to `descriptor` in `style`.
    package init(descriptor: Int32 = 2, style: LogStyle, program: String = "bgsync") {
        self.descriptor = descriptor
        self.style = style
        self.program = program
    }

    /// A handler for stderr, its style detected from the descriptor and `environment`.
    package static func standardError(environment: [String: String], descriptor: Int32 = 2) -> BGSyncLogHandler {
        BGSyncLogHandler(descriptor: descriptor, style: LogStyle.detect(descriptor: descriptor, environment: environment))
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        let line = format(level: event.level, message: "\(event.message)", metadata: event.metadata, date: Date())
        if descriptor == 2 { ProgressBar.active.withLock { $0 }?.clear() }
        Self.write(line, to: descriptor)
    }

    /// The line for one message (with its trailing newline).
    package func format(level: Logger.Level, message: String, metadata extra: Logger.Metadata?, date: Date) -> String {
        var merged = metadata
        if let extra { merged.merge(extra) { $1 } }
        let pairs = merged.keys.sorted().compactMap { key -> String? in
            let lower = key.lowercased()
            if Self.secretKeys.contains(where: { lower.contains($0) }) { return nil }
            return "\(key)=\(Self.quote(URLComponentsLite.redact(Self.text(merged[key]!))))"
        }
        let body = ([URLComponentsLite.redact(message).replacingOccurrences(of: "\n", with: " ")] + pairs).joined(separator: " ")
        switch style {
        case .journald:
            return "<\(Self.priority(level))>\(body)\n"
        case .plain:
            return "\(program): \(Self.name(level)): \(body)\n"
        case .terminal(let colour):
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss"
            formatter.locale = Locale(identifier: "en_US_POSIX")
            let name = Self.name(level)
            let label = colour ? "\(Self.colour(level))\(name)\u{1B}[0m" : name
            return "\(formatter.string(from: date)) \(label): \(body)\n"
        }
    }

    /// syslog priority: 3 error, 4 warning, 5 notice, 6 info, 7 debug/trace, 2 critical.
    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    static func name(_ level: Logger.Level) -> String {
        level == .warning ? "warning" : level.rawValue
    }

    static func colour(_ level: Logger.Level) -> String {
        switch level {
        case .trace, .debug: "\u{1B}[2m"
        case .info, .notice: "\u{1B}[36m"
        case .warning: "\u{1B}[33m"
        case .error, .critical: "\u{1B}[1;31m"
        }
    }

    static func text(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let s): s.description
        case .array(let a): "[" + a.map(text).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.keys.sorted().map { "\($0)=\(text(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    static func quote(_ value: String) -> String {
        let single = value.replacingOccurrences(of: "\n", with: " ")
        guard single.isEmpty || single.contains(" ") || single.contains("\"") else { return single }
        return "\"" + single.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }

    static let lock = Mutex<Void>(())

    static func write(_ line: String, to descriptor: Int32) {
        lock.withLock { _ in
            var bytes = Array(line.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeMutableBytes { posixWrite(descriptor, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 { if errno == EINTR { continue }; return }
                offset += written
            }
        }
    }
}


