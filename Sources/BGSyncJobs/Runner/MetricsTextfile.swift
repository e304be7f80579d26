import BGSyncReplication
import Foundation

/// A Prometheus node_exporter textfile (`[metrics] textfile = PATH`), rewritten atomically
/// after each run: a temporary file in the same directory (not ending in `.prom`, so the
/// collector never reads it half-written), fsync, rename, fsync of the directory.
package enum MetricsTextfile {
    /// What one run contributes.
    package struct Sample: Sendable {
        package var tag: String
        package var outcome: RunOutcome
        /// When the run started.
        package var runAt: Date
        /// The state database's last success (survives failures).
        package var lastSuccess: Date?
        package var duration: Double
        package var consecutiveFailures: Int
        /// The replication's counters, when it ran.
        package var result: SyncResult?

        package init(tag: String, outcome: RunOutcome, runAt: Date, lastSuccess: Date?, duration: Double,
                    consecutiveFailures: Int, result: SyncResult?) {
            self.tag = tag
            self.outcome = outcome
            self.runAt = runAt
            self.lastSuccess = lastSuccess
            self.duration = duration
            self.consecutiveFailures = consecutiveFailures
            self.result = result
        }
    }

    static let families: [(name: String, help: String)] = [
        ("bgsync_last_run_timestamp_seconds", "When the job last ran (any outcome), in seconds since the epoch."),
        ("bgsync_last_success_timestamp_seconds", "When the job last synced successfully, in seconds since the epoch."),
        ("bgsync_last_run_duration_seconds", "How long the last run that replicated took, in seconds."),
        ("bgsync_last_run_outcome", "1 for the outcome of the last run, 0 for the others."),
        ("bgsync_documents_written", "Revisions written by the target in the last run, per direction."),
        ("bgsync_documents_read", "Revisions read from the source in the last run, per direction."),
        ("bgsync_bytes", "HTTP body bytes of the last run: received for pull, sent for push."),
        ("bgsync_doc_write_failures", "Revisions the target refused in the last run, per direction."),
        ("bgsync_consecutive_failures", "Failed or interrupted runs since the last success."),
        ("bgsync_conflicts_resolved", "Documents whose conflict the job's resolver settled in the last run."),
        ("bgsync_conflicts_unresolved", "Documents the job's resolver left in conflict in the last run (retried next run)."),
    ]

    /// Families that a skipped run leaves as they were (it carries their samples over).
    static let runFamilies: Set<String> = ["bgsync_last_run_duration_seconds", "bgsync_documents_written", "bgsync_documents_read",
                                           "bgsync_bytes", "bgsync_doc_write_failures", "bgsync_conflicts_resolved",
                                           "bgsync_conflicts_unresolved"]

    /// The exposition text for `sample`; `previous` (the file's current text) supplies the
    /// per-run families when the run was skipped.
    package static func render(_ sample: Sample, previous: String? = nil) -> String {
        let tag = "tag=\"\(escape(sample.tag))\""
        var samples: [String: [String]] = [:]
        func add(_ name: String, _ labels: String, _ value: String) { samples[name, default: []].append("\(name){\(labels)} \(value)") }
        add("bgsync_last_run_timestamp_seconds", tag, number(sample.runAt.timeIntervalSince1970))
        if let success = sample.lastSuccess { add("bgsync_last_success_timestamp_seconds", tag, number(success.timeIntervalSince1970)) }
        for outcome in RunOutcome.allCases {
            add("bgsync_last_run_outcome", "\(tag),outcome=\"\(outcome.rawValue)\"", outcome == sample.outcome ? "1" : "0")
        }
        add("bgsync_consecutive_failures", tag, String(sample.consecutiveFailures))
        if sample.outcome == .skipped {
            for line in (previous ?? "").split(separator: "\n") where !line.hasPrefix("#") {
                let name = String(line.prefix { $0 != "{" && $0 != " " })
                if runFamilies.contains(name) { samples[name, default: []].append(String(line)) }
            }
        } else {
            add("bgsync_last_run_duration_seconds", tag, number(sample.duration))
            for result in [sample.result?.pull, sample.result?.push].compactMap({ $0 }) {
                let labels = "\(tag),direction=\"\(escape(result.direction.rawValue))\""
                add("bgsync_documents_written", labels, String(result.docsWritten))
                add("bgsync_documents_read", labels, String(result.docsRead))
                add("bgsync_doc_write_failures", labels, String(result.docWriteFailures))
            }
            if let result = sample.result {
                if result.pull != nil { add("bgsync_bytes", "\(tag),direction=\"pull\"", String(result.httpBytesReceived)) }
                if result.push != nil { add("bgsync_bytes", "\(tag),direction=\"push\"", String(result.httpBytesSent)) }
                add("bgsync_conflicts_resolved", tag, String(result.conflicts.resolved))
                add("bgsync_conflicts_unresolved", tag, String(result.conflicts.unresolved))
            }
        }
        var text = ""
        for family in families {
            text += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) gauge\n"
            for line in samples[family.name] ?? [] { text += line + "\n" }
        }
        return text
    }

    /// Renders `sample` and replaces the file at `path` atomically.
    package static func write(_ sample: Sample, to path: String) throws {
        let previous = sample.outcome == .skipped ? (try? String(contentsOfFile: path, encoding: .utf8)) : nil
        try replace(path: path, contents: Array(render(sample, previous: previous).utf8))
    }

    /// Writes `contents` to a temporary file beside `path`, fsyncs it and renames it over `path`.
    static func replace(path: String, contents: [UInt8]) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = directory + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw MetricsError(path: temporary, errno: errno) }
        var ok = false
        defer { if !ok { unlink(temporary) } }
        do {
            defer { close(fd) }
            var offset = 0
            while offset < contents.count {
                let written = contents.withUnsafeBytes { posixWrite(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw MetricsError(path: temporary, errno: errno)
                }
                offset += written
            }
            fchmod(fd, 0o644)
            guard fsync(fd) == 0 else { throw MetricsError(path: temporary, errno: errno) }
        }
        guard rename(temporary, path) == 0 else { throw MetricsError(path: path, errno: errno) }
        ok = true
        let directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryFD >= 0 { _ = fsync(directoryFD); close(directoryFD) }
    }

    static func number(_ value: Double) -> String {
        value.isFinite ? String(format: "%.3f", value) : "NaN"
    }

    static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n")
    }
}

/// The metrics textfile could not be written.
package struct MetricsError: Error, CustomStringConvertible {
    package var path: String
    package var errno: Int32
    package var description: String { "\(path): \(String(cString: strerror(errno)))" }
}


