import BGSyncStore
import Foundation
import GRDB
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The memory between stateless runs: `state.sqlite` in the state directory, with one row per
/// job (`jobs`) and the history of runs (`runs`), skips included.
///
/// Several bgsync processes (runs of different jobs, `status`, `cancel`) use the file at once:
/// it is in WAL mode, writers wait for each other (busy timeout), and every write is one short
/// immediate transaction.
///
/// A run uses it like this, with the tag's ``RunLock`` held from before ``job(_:)`` until after
/// ``finishRun(runID:tag:outcome:reason:error:exitCode:resultJSON:policy:at:)``:
/// ```swift
/// let record = try state.job(tag)
/// switch ScheduleDecider.decide(job: record, policy: policy, now: Date(), force: force) {
/// case .skip(let reason): try state.recordSkip(tag: tag, reason: reason, pid: getpid(), jobFile: path, at: Date())
/// case .run:
///     let id = try state.beginRun(tag: tag, pid: getpid(), jobFile: path, at: Date())
///     // … updateProgress(runID: id, tag: tag, json: …) now and then …
///     _ = try state.finishRun(runID: id, tag: tag, outcome: .synced, …, policy: policy, at: Date())
///     try state.pruneHistory(keepPerTag: 1000)
/// }
/// ```
///
/// A run whose process died (SIGKILL, OOM, power loss) leaves its row marked running. Reads
/// show such a row (its pid no longer alive) as not running, failed with reason "process died";
/// the next ``beginRun(tag:pid:jobFile:at:)`` records it so in the history. It counts as a
/// failure for backoff: a job that crashes its process every time is retried ever more slowly.
package final class StateDatabase: Sendable {
    /// The file name of the database in the state directory.
    package static let fileName = "state.sqlite"
    /// How long a writer waits for another process's write before failing.
    package static let busyTimeout: TimeInterval = 10
    /// The reason recorded for a run whose process died without recording an outcome.
    package static let processDiedReason = "process died"

    /// The path of `state.sqlite`.
    package let path: String
    private let queue: DatabaseQueue

    private init(path: String, queue: DatabaseQueue) {
        self.path = path
        self.queue = queue
    }

    // MARK: Opening

    /// Opens `<directory>/state.sqlite`, creating the directory (mode 0700) and the database when
    /// missing and upgrading an older schema.
    /// - Throws: ``StateError`` naming the file: ``StateError/Kind/notAStateDatabase`` for a
    ///   corrupt or foreign file (left untouched: history is never silently reset), or
    ///   ``StateError/Kind/io``.
    package static func open(directory: String) throws -> StateDatabase {
        try createDirectory(directory)
        return try open(path: directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName)
    }

    /// Opens the state database of `directory` if it exists, without creating anything (for
    /// commands that only read, such as `status`); nil when there is none yet.
    package static func openIfPresent(directory: String) throws -> StateDatabase? {
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try open(path: path)
    }

    /// Opens the state database of `directory` for reading only, if it exists: nothing is
    /// created, migrated or written (for `check` and dry runs, which must change nothing); nil
    /// when there is none yet. A database of an older schema is read as it is.
    package static func openReadOnly(directory: String) throws -> StateDatabase? {
        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "bgsync-state-reader"
        configuration.prepareDatabase { db in try StateSchema.checkFormat(db, path: path) }
        do {
            return StateDatabase(path: path, queue: try DatabaseQueue(path: path, configuration: configuration))
        } catch let error as StateError {
            throw error
        } catch {
            throw wrapping(error, path: path)
        }
    }

    private static func open(path: String) throws -> StateDatabase {
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "bgsync-state"
        configuration.prepareDatabase { db in
            try StateSchema.checkFormat(db, path: path)
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        do {
            // Two processes creating the file at once can see SQLITE_BUSY while one of them
            // switches it to WAL, before any busy handler applies: try again shortly.
            let queue = try retryingWhileBusy {
                let queue = try DatabaseQueue(path: path, configuration: configuration)
                try queue.writeWithoutTransaction { db in try StateSchema.migrate(db, path: path) }
                return queue
            }
            return StateDatabase(path: path, queue: queue)
        } catch let error as StateError {
            throw error
        } catch {
            throw wrapping(error, path: path)
        }
    }

    /// Creates `directory` and any missing parents with mode 0700; existing ones are left as
    /// they are.
    static func createDirectory(_ directory: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw StateError(.io, "\(directory): not a directory (the state directory must be one)", path: directory)
            }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch let error as CocoaError where error.code == .fileWriteNoPermission {
            throw StateError(.permission, "\(directory): permission denied: this user (uid \(getuid())) cannot create the state directory; give --state-dir, or create it for this user", path: directory)
        } catch {
            throw StateError(.io, "\(directory): cannot create the state directory: \(error.localizedDescription)", path: directory)
        }
    }

    // MARK: Reading

    /// The record of `tag`, nil when the job never ran (and was never cancelled).
    package func job(_ tag: String) throws -> JobRecord? {
        try read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE tag = ?", arguments: [tag]).map { Self.presented(Self.jobRecord($0)) }
        }
    }

    /// Every job's record, by tag.
    package func jobs() throws -> [JobRecord] {
        try read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY tag").map { Self.presented(Self.jobRecord($0)) }
        }
    }

    /// Runs, newest first: all jobs' when `tag` is nil. A run whose process died shows as failed
    /// with reason "process died".
    package func history(tag: String?, limit: Int) throws -> [RunRecord] {
        try read { db in
            let rows: [Row]
            if let tag {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM runs WHERE tag = ? ORDER BY id DESC LIMIT ?", arguments: [tag, max(limit, 0)])
            } else {
                rows = try Row.fetchAll(db, sql: "SELECT * FROM runs ORDER BY id DESC LIMIT ?", arguments: [max(limit, 0)])
            }
            return rows.map { row in
                var run = Self.runRecord(row)
                if run.outcome == nil && !Self.isAlive(pid: run.pid) {
                    run.outcome = .failed
                    run.reason = Self.processDiedReason
                }
                return run
            }
        }
    }

    // MARK: Runs

    /// Records that `pid` starts running the job now, and returns the new run's id. Call it with
    /// the tag's ``RunLock`` held: a run still marked running is then certainly abandoned, and is
    /// recorded as failed ("process died", one more consecutive failure).
    package func beginRun(tag: String, pid: Int32, jobFile: String?, at: Date) throws -> Int64 {
        try JobTag.validate(tag)
        return try write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO jobs (tag) VALUES (?)", arguments: [tag])
            try Self.recordAbandonedRun(db, tag: tag)
            try db.execute(sql: "INSERT INTO runs (tag, started_at, pid) VALUES (?, ?, ?)",
                           arguments: [tag, at.timeIntervalSince1970, pid])
            let id = db.lastInsertedRowID
            try db.execute(sql: """
                UPDATE jobs SET running_run_id = ?, running_pid = ?, running_since = ?, progress = NULL,
                                job_file = coalesce(?, job_file)
                WHERE tag = ?
                """, arguments: [id, pid, at.timeIntervalSince1970, jobFile, tag])
            return id
        }
    }

    /// Replaces the live progress of the running run (JSON text). Cheap, but a write: the caller
    /// throttles (say once a second). Ignored when `runID` is no longer the job's running run.
    package func updateProgress(runID: Int64, tag: String, json: String) throws {
        try write { db in
            try db.execute(sql: "UPDATE jobs SET progress = ? WHERE tag = ? AND running_run_id = ?", arguments: [json, tag, runID])
        }
    }

    /// Records how the run ended and returns the job's updated record.
    ///
    /// `synced` sets the last success to `at` and resets the failures; `failed` adds one
    /// failure (the backoff counts from `at`); `skipped`, `refused` and `interrupted` change
    /// neither (a refused push is not transient: backing off would not fix it; a stopped run
    /// did not fail, and the next one may start as soon as the job is due). A configuration
    /// error (`failed` with exit code 78) adds no failure either and leaves the job due (next
    /// eligible nil), so that each later run reports it again until it is fixed.
    /// The next eligible time comes from ``ScheduleDecider/nextEligible(after:consecutiveFailures:policy:now:lastSuccess:)``.
    /// - Throws: ``StateError/Kind/unknownRun`` when `runID` is not a run of `tag`.
    @discardableResult
    package func finishRun(runID: Int64, tag: String, outcome: RunOutcome, reason: String?, error: String?, exitCode: Int32,
                          resultJSON: String?, policy: SchedulePolicy, at: Date) throws -> JobRecord {
        try write { db in
            guard let startedAt = try Double.fetchOne(db, sql: "SELECT started_at FROM runs WHERE id = ? AND tag = ?", arguments: [runID, tag]),
                  let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE tag = ?", arguments: [tag]) else {
                throw StateError(.unknownRun, "\(self.path): no run \(runID) of job \"\(tag)\" to finish", path: self.path)
            }
            try db.execute(sql: """
                UPDATE runs SET finished_at = ?, outcome = ?, reason = ?, error = ?, exit_code = ?, result = ?
                WHERE id = ?
                """, arguments: [at.timeIntervalSince1970, outcome.rawValue, reason, error, exitCode, resultJSON, runID])

            var job = Self.jobRecord(row)
            job.lastRun = Date(timeIntervalSince1970: startedAt)
            job.lastOutcome = outcome
            job.lastReason = reason
            job.lastExitCode = exitCode
            let configurationError = outcome == .failed && exitCode == SysExit.config
            switch outcome {
            case .synced:
                job.lastSuccess = at
                job.consecutiveFailures = 0
            case .failed where configurationError:
                break  // not transient: waiting would not fix it, and must not hide it
            case .failed:
                job.consecutiveFailures += 1
                job.lastFailure = at
            case .skipped, .refused, .interrupted:
                break
            }
            if configurationError {
                job.nextEligible = nil  // due: every run builds the configuration again and reports 78
            } else if outcome != .skipped {
                job.nextEligible = ScheduleDecider.nextEligible(after: outcome, consecutiveFailures: job.consecutiveFailures,
                                                                policy: policy, now: at, lastSuccess: job.lastSuccess)
            }
            let runningRunID = try Int64.fetchOne(db, sql: "SELECT running_run_id FROM jobs WHERE tag = ?", arguments: [tag])
            if runningRunID == nil || runningRunID == runID {
                job.runningPID = nil
                job.runningSince = nil
                job.progress = nil
                try db.execute(sql: "UPDATE jobs SET running_run_id = NULL, running_pid = NULL, running_since = NULL, progress = NULL WHERE tag = ?",
                               arguments: [tag])
            }
            try Self.saveOutcome(db, job)
            return job
        }
    }

    /// Records a run that did nothing: a history row (outcome `skipped`, the reason) and the
    /// job's last run, outcome and reason. Backoff, failures, last success and last exit code
    /// stay as they were, and so does a running run. An "already running" skip only adds the
    /// history row: the job's last outcome stays the one of the run that holds the lock (or
    /// ran before it), so `status` keeps telling how the job really did.
    package func recordSkip(tag: String, reason: SkipReason, pid: Int32, jobFile: String?, at: Date) throws {
        try JobTag.validate(tag)
        let text = reason.description(tag: tag)
        try write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO jobs (tag) VALUES (?)", arguments: [tag])
            try db.execute(sql: """
                INSERT INTO runs (tag, started_at, finished_at, outcome, reason, exit_code, pid)
                VALUES (?, ?, ?, 'skipped', ?, 0, ?)
                """, arguments: [tag, at.timeIntervalSince1970, at.timeIntervalSince1970, text, pid])
            if case .alreadyRunning = reason { return }
            try db.execute(sql: """
                UPDATE jobs SET last_run = ?, last_outcome = 'skipped', last_reason = ?, job_file = coalesce(?, job_file)
                WHERE tag = ?
                """, arguments: [at.timeIntervalSince1970, text, jobFile, tag])
        }
    }

    /// `bgsync cancel TAG` (false) and `bgsync resume TAG` (true). A job not seen yet gets a
    /// record, so that cancelling it before its first run works (the command checks first that
    /// a job file or this database knows the tag). Backoff is kept on resume.
    package func setEnabled(_ tag: String, _ enabled: Bool) throws {
        try JobTag.validate(tag)
        try write { db in
            try db.execute(sql: "INSERT INTO jobs (tag, enabled) VALUES (?, ?) ON CONFLICT (tag) DO UPDATE SET enabled = excluded.enabled",
                           arguments: [tag, enabled])
        }
    }

    /// Deletes all but the newest `keepPerTag` runs of each job (never a running run). Call it
    /// after finishing a run, e.g. with 1000 (about ten days of skips from a 15-minute timer).
    package func pruneHistory(keepPerTag: Int) throws {
        try write { db in
            try db.execute(sql: """
                DELETE FROM runs
                WHERE id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY tag ORDER BY id DESC) AS n FROM runs) WHERE n > ?)
                  AND id NOT IN (SELECT running_run_id FROM jobs WHERE running_run_id IS NOT NULL)
                """, arguments: [max(keepPerTag, 0)])
        }
    }

    // MARK: Processes

    /// Whether a process with this pid exists (`kill(pid, 0)`; a process of another user counts).
    /// Pids are reused, so a dead run may look alive until its pid is reused no more; the run
    /// lock, not this, is what keeps two runs apart.
    package static func isAlive(pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno == EPERM
    }

    /// Whether a process with this pid exists; see ``isAlive(pid:)-swift.type.method``.
    package func isAlive(pid: Int32) -> Bool { Self.isAlive(pid: pid) }

    // MARK: Rows

    private static func date(_ row: Row, _ column: String) -> Date? {
        (row[column] as Double?).map { Date(timeIntervalSince1970: $0) }
    }

    private static func jobRecord(_ row: Row) -> JobRecord {
        JobRecord(
            tag: row["tag"], enabled: row["enabled"], lastRun: date(row, "last_run"),
            lastOutcome: (row["last_outcome"] as String?).flatMap(RunOutcome.init(rawValue:)), lastReason: row["last_reason"],
            lastExitCode: row.hasColumn("last_exit_code") ? row["last_exit_code"] : nil,
            lastSuccess: date(row, "last_success"), lastFailure: date(row, "last_failure"),
            consecutiveFailures: row["consecutive_failures"], nextEligible: date(row, "next_eligible"),
            runningPID: row["running_pid"], runningSince: date(row, "running_since"), progress: row["progress"],
            jobFile: row["job_file"])
    }

    private static func runRecord(_ row: Row) -> RunRecord {
        RunRecord(
            id: row["id"], tag: row["tag"], startedAt: date(row, "started_at") ?? Date(timeIntervalSince1970: 0),
            finishedAt: date(row, "finished_at"), outcome: (row["outcome"] as String?).flatMap(RunOutcome.init(rawValue:)),
            reason: row["reason"], error: row["error"], exitCode: row["exit_code"], result: row["result"], pid: row["pid"])
    }

    /// The record as the next run will see it after recording an abandoned run.
    private static func abandoned(_ job: JobRecord) -> JobRecord {
        var job = job
        job.lastRun = job.runningSince ?? job.lastRun
        job.lastOutcome = .failed
        job.lastReason = processDiedReason
        job.lastExitCode = nil
        job.consecutiveFailures += 1
        job.lastFailure = job.runningSince ?? job.lastFailure
        job.nextEligible = nil  // unknown without the policy; ScheduleDecider computes it
        job.runningPID = nil
        job.runningSince = nil
        job.progress = nil
        return job
    }

    /// A record whose runner died is shown as not running, its run failed.
    private static func presented(_ job: JobRecord) -> JobRecord {
        guard let pid = job.runningPID, !isAlive(pid: pid) else { return job }
        return abandoned(job)
    }

    private static func recordAbandonedRun(_ db: Database, tag: String) throws {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM jobs WHERE tag = ?", arguments: [tag]),
              let runID = row["running_run_id"] as Int64? else { return }
        let job = jobRecord(row)
        let pid = job.runningPID.map { "process \($0)" } ?? "the process"
        try db.execute(sql: """
            UPDATE runs SET outcome = 'failed', reason = ?, error = ?
            WHERE id = ? AND outcome IS NULL
            """, arguments: [processDiedReason, "\(pid) ended without recording an outcome (killed, crashed, or the machine stopped)", runID])
        try saveOutcome(db, abandoned(job))
        try db.execute(sql: "UPDATE jobs SET running_run_id = NULL, running_pid = NULL, running_since = NULL, progress = NULL WHERE tag = ?",
                       arguments: [tag])
    }

    private static func saveOutcome(_ db: Database, _ job: JobRecord) throws {
        try db.execute(sql: """
            UPDATE jobs SET last_run = ?, last_outcome = ?, last_reason = ?, last_exit_code = ?, last_success = ?, last_failure = ?,
                            consecutive_failures = ?, next_eligible = ?
            WHERE tag = ?
            """, arguments: [job.lastRun?.timeIntervalSince1970, job.lastOutcome?.rawValue, job.lastReason, job.lastExitCode,
                             job.lastSuccess?.timeIntervalSince1970, job.lastFailure?.timeIntervalSince1970,
                             job.consecutiveFailures, job.nextEligible?.timeIntervalSince1970, job.tag])
    }

    // MARK: Transactions

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.read { db in try body(db) }
        } catch let error as StateError {
            throw error
        } catch {
            throw Self.wrapping(error, path: path)
        }
    }

    @discardableResult
    private func write<T>(_ body: (Database) throws -> T) throws -> T {
        do {
            return try queue.writeWithoutTransaction { db in
                var result: T?
                try db.inTransaction(.immediate) {
                    result = try body(db)
                    return .commit
                }
                guard let result else { throw StateError(.io, "\(path): transaction produced no result", path: path) }
                return result
            }
        } catch let error as StateError {
            throw error
        } catch {
            throw Self.wrapping(error, path: path)
        }
    }

    /// Maps an SQLite failure to a state error that names the file.
    static func wrapping(_ error: any Error, path: String) -> StateError {
        guard let error = error as? DatabaseError else {
            return StateError(.io, "\(path): \(error)", path: path)
        }
        let sqlite = error.message ?? "SQLite error \(error.resultCode.rawValue)"
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            return StateError(.notAStateDatabase, "\(path): not a bgsync state database, or corrupt (SQLite says: \(sqlite)); it was left as it is — move it away to start a new history", path: path)
        case .SQLITE_FULL:
            return StateError(.io, "\(path): disk full (SQLite: \(sqlite))", path: path)
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return StateError(.busy, "\(path): busy: another process kept the state database locked for more than \(Int(busyTimeout))s", path: path)
        case .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH, .SQLITE_CANTOPEN:
            // Permission refused to this user (77, saying so), or another cause (74).
            let directory = (path as NSString).deletingLastPathComponent
            let denied = [path, directory].contains(where: { (file: String) in access(file, R_OK | W_OK) != 0 && (errno == EACCES || errno == EPERM) })
            if denied {
                return StateError(.permission, "\(path): permission denied: this user (uid \(getuid())) cannot read and write the state database or its directory \(directory); check their owner and mode, or give --state-dir", path: path)
            }
            if error.resultCode == .SQLITE_CANTOPEN {
                return StateError(.io, "\(path): cannot open the state database (SQLite: \(sqlite)); check that the directory exists and is writable", path: path)
            }
            return StateError(.io, "\(path): cannot write the state database (SQLite: \(sqlite)); check its owner and permissions", path: path)
        case .SQLITE_CONSTRAINT:
            return StateError(.io, "\(path): rejected a value (SQLite: \(sqlite)); progress and results must be JSON text", path: path)
        default:
            return StateError(.io, "\(path): \(sqlite)", path: path)
        }
    }
}
