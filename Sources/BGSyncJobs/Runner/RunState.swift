import BGSyncReplication
import Foundation

/// The state database as one run sees it.
///
/// A real run reads and records through it (``StateDatabase``, created when missing). A dry run
/// (`--dry-run`) reads it only when it exists, opened read-only, and records nothing: no
/// directory or file is created, no history row is added and the job's record (outcome, last
/// success, next eligible time, failures) stays as it was, so `status` after a dry run is what
/// it was before.
struct RunState: Sendable {
    /// The database; nil for a dry run when there is none yet.
    let database: StateDatabase?
    /// False for a dry run: every write below does nothing.
    let recording: Bool

    /// Opens the state of `directory` for a real run, or for a dry run without creating or
    /// writing anything.
    static func open(directory: String, dryRun: Bool) throws -> RunState {
        if dryRun { return RunState(database: try StateDatabase.openReadOnly(directory: directory), recording: false) }
        return RunState(database: try StateDatabase.open(directory: directory), recording: true)
    }

    /// The job's record, nil when it never ran (or, in a dry run, when there is no state yet).
    func job(_ tag: String) throws -> JobRecord? {
        try database?.job(tag)
    }

    /// See ``StateDatabase/recordSkip(tag:reason:pid:jobFile:at:)``; nothing in a dry run.
    func recordSkip(tag: String, reason: SkipReason, pid: Int32, jobFile: String?, at: Date) throws {
        guard recording, let database else { return }
        try database.recordSkip(tag: tag, reason: reason, pid: pid, jobFile: jobFile, at: at)
    }

    /// See ``StateDatabase/beginRun(tag:pid:jobFile:at:)``; 0 in a dry run.
    func beginRun(tag: String, pid: Int32, jobFile: String?, at: Date) throws -> Int64 {
        guard recording, let database else { return 0 }
        return try database.beginRun(tag: tag, pid: pid, jobFile: jobFile, at: at)
    }

    /// See ``StateDatabase/updateProgress(runID:tag:json:)``; nothing in a dry run.
    func updateProgress(runID: Int64, tag: String, json: String) throws {
        guard recording, let database else { return }
        try database.updateProgress(runID: runID, tag: tag, json: json)
    }

    /// See ``StateDatabase/finishRun(runID:tag:outcome:reason:error:exitCode:resultJSON:policy:at:)``;
    /// in a dry run, the job's record as it is (unchanged).
    @discardableResult
    func finishRun(runID: Int64, tag: String, outcome: RunOutcome, reason: String?, error: String?, exitCode: Int32,
                   resultJSON: String?, policy: SchedulePolicy, at: Date) throws -> JobRecord {
        guard recording, let database else { return try job(tag) ?? JobRecord(tag: tag) }
        return try database.finishRun(runID: runID, tag: tag, outcome: outcome, reason: reason, error: error, exitCode: exitCode,
                                      resultJSON: resultJSON, policy: policy, at: at)
    }

    /// See ``StateDatabase/pruneHistory(keepPerTag:)``; nothing in a dry run.
    func pruneHistory(keepPerTag: Int) throws {
        guard recording, let database else { return }
        try database.pruneHistory(keepPerTag: keepPerTag)
    }

    /// The files a real run would create: the local database and a `file:` remote that do not
    /// exist yet (a dry run reports them instead of creating them).
    static func missingFiles(_ configuration: ReplicatorConfiguration) -> [String] {
        var paths = [configuration.database]
        if case .file(let path) = configuration.remote { paths.append(path) }
        return paths.filter { !FileManager.default.fileExists(atPath: $0) }
    }
}
