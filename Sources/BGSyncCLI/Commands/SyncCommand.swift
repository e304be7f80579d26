import ArgumentParser
import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import Foundation
import Logging

/// `bgsync sync LOCAL REMOTE`: an ad-hoc run without a job.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Pull REMOTE into LOCAL to completion, then push LOCAL to REMOTE (no job file needed).",
        discussion: """
            LOCAL is a bgsync database file (created by a pull if missing). REMOTE is a \
            CouchDB-compatible database URL (http(s)://host:port/db) or another bgsync database \
            file (optionally file:-prefixed), which must exist unless --create-target is given \
            (as must LOCAL for --push-only). Credentials never go on the command line: give \
            --user and --password-file FILE, or set BGSYNC_PASSWORD.
            """
    )

    @Argument(help: "The local database file.")
    var local: String
    @Argument(help: "http(s)://host/db, or a path / file:path of another local database.")
    var remote: String
    @Flag(help: "Only pull (remote → local).")
    var pullOnly = false
    @Flag(help: "Only push (local → remote).")
    var pushOnly = false
    @Flag(help: "Print one JSON result object.")
    var json = false
    @Option(help: "User name for the remote.")
    var user: String?
    @Option(help: "A file holding the password (mode 0600); or set BGSYNC_PASSWORD.")
    var passwordFile: String?
    @Option(help: "basic (default) or session (CouchDB cookie session via /_session).")
    var auth: String = "basic"
    @Option(help: "Changes per batch.")
    var batchSize: Int = 500
    @Option(help: "A PEM file of CA certificates to trust.")
    var caFile: String?
    @Option(help: ArgumentHelp("Refuse a push that would delete more of the remote's documents than this: a percentage (\"50%\") or a number of documents.",
                               valueName: "limit"))
    var maxDelete: String = "50%"
    @Flag(help: "Push even a mass deletion (lifts --max-delete; the deletions pushed are logged).")
    var allowMassDeletion = false
    @Flag(help: .hidden)
    var force = false  // the former name of --allow-mass-deletion, still accepted
    @Option(help: ArgumentHelp("Stop the sync after this long (e.g. 10m): checkpoints are kept, exit 75.", valueName: "duration"))
    var timeout: String?
    @Option(help: ArgumentHelp("How long to wait for a connection to the server.", valueName: "duration"))
    var connectTimeout: String = "10s"
    @Flag(help: "Create a missing file REMOTE (or, with --push-only, a missing LOCAL); without it a missing database is exit 66.")
    var createTarget = false
    @Option(help: ArgumentHelp("Settle conflicts after the pull: keep (CouchDB semantics, the default), remote-wins, local-wins or deterministic.",
                               valueName: "resolver"))
    var conflicts: String = "keep"
    @OptionGroup var log: LogOptions

    func validate() throws {
        if pullOnly && pushOnly { throw ValidationError("--pull-only and --push-only exclude each other") }
        if batchSize < 1 { throw ValidationError("--batch-size must be at least 1") }
        if !["basic", "session"].contains(auth) { throw ValidationError("--auth must be basic or session") }
        if conflicts != "keep" && BuiltInConflictResolver.Rule(rawValue: conflicts) == nil {
            throw ValidationError("--conflicts \(conflicts): expected keep, remote-wins, local-wins or deterministic")
        }
        if DeletionLimit(parsing: maxDelete) == nil {
            throw ValidationError("--max-delete \(maxDelete): expected \(DeletionLimit.accepted)")
        }
        for (flag, value) in [("--timeout", timeout), ("--connect-timeout", connectTimeout)] {
            if let value, (DurationText.seconds(value) ?? 0) <= 0 {
                throw ValidationError("\(flag) \(value): expected a duration above zero such as 30s, 10m or 1h")
            }
        }
    }

    func run() async throws {
        var stopCode: String?  // `signal` or `deadline`, once a stop interrupted the sync
        do {
            var configuration = ReplicatorConfiguration(
                database: local, remote: try Self.endpoint(remote),
                direction: pullOnly ? .pull : pushOnly ? .push : .pullAndPush)
            try InputFile.checkCreatable(local, what: "database file")
            if let caFile { try InputFile.checkReadable(caFile, what: "CA file (--ca-file)") }
            configuration.batchSize = batchSize
            configuration.http.caFile = caFile
            configuration.http.connectTimeout = DurationText.seconds(connectTimeout) ?? configuration.http.connectTimeout
            configuration.maxDelete = allowMassDeletion || force ? nil : DeletionLimit(parsing: maxDelete)
            configuration.createTarget = createTarget
            configuration.conflictResolver = BuiltInConflictResolver.Rule(rawValue: conflicts).map(BuiltInConflictResolver.init)
            if let user {
                let password = try readPassword()
                configuration.http.auth = auth == "session" ? .session(user: user, password: password) : .basic(user: user, password: password)
            } else if passwordFile != nil {
                throw UsageError(message: "--password-file needs --user")
            }
            let logger = log.makeLogger()
            let started = Date()
            let stop = RunStop()
            SignalWatcher.install(stop)
            let deadline = timeout.flatMap(DurationText.seconds).map { stop.stop(.deadline(seconds: $0), after: $0) }
            defer { deadline?.cancel() }
            let result: SyncResult
            var replicator = Replicator(configuration: configuration, logger: logger)
            replicator.shouldStop = { stop.isStopped }
            do {
                result = try await stop.perform { [replicator] in
                    try await replicator.run()
                }
            } catch let error where stop.isStopped {
                let failure = error as? ReplicationError
                stopCode = stop.reason?.code
                var message = stop.reason?.description ?? "stopped"
                if let failure, failure.kind == .interrupted { message += "; " + failure.message }
                var interrupted = ReplicationError(.interrupted, message)
                interrupted.partialResult = failure?.partialResult
                throw interrupted
            }
            let elapsed = Date().timeIntervalSince(started)
            if json {
                Console.out(SyncReport.json(result, outcome: "synced", reason: nil, reasonCode: nil, seconds: elapsed))
            } else {
                Console.out(SyncReport.text(result, seconds: elapsed))
            }
        } catch {
            if json {
                let failure = error as? ReplicationError
                let outcome = failure?.kind == .interrupted ? "interrupted" : failure?.kind == .deletionRefused ? "refused" : "failed"
                let code = failure?.kind == .interrupted ? stopCode ?? "interrupted" : SysExit.reasonCode(for: error)
                Console.out(SyncReport.json(failure?.partialResult, outcome: outcome, reason: "\(error)", reasonCode: code, seconds: nil))
            }
            throw report(error)
        }
    }

    /// REMOTE parsed; a mistake in it (an unsupported scheme, no database, a password in the
    /// URL) is a usage error (64).
    static func endpoint(_ text: String) throws -> Endpoint {
        do {
            return try Endpoint(parsing: text, credentialsHint: "give --user NAME with --password-file FILE or the BGSYNC_PASSWORD environment variable")
        } catch let error as ReplicationError {
            throw UsageError(message: error.message)
        }
    }

    private func readPassword() throws -> String {
        if let passwordFile {
            try InputFile.checkReadable(passwordFile, what: "password file")
            // The same rule as for jobs: a secret readable by group or others is refused (77).
            return try FilePermissions.readSecret(passwordFile, what: "password file")
        }
        if let password = ProcessInfo.processInfo.environment["BGSYNC_PASSWORD"] { return password }
        throw UsageError(message: "--user needs a password: give --password-file FILE or set BGSYNC_PASSWORD")
    }
}

/// Renders run results for people and for scripts.
enum SyncReport {
    /// `{"outcome","reason","reason_code","pull","push",…}`: `reason` and `reason_code` unless
    /// synced, `pull` and `push` always (null when not run).
    static func json(_ result: SyncResult?, outcome: String, reason: String?, reasonCode: String?, seconds: Double?) -> String {
        var object = JSONObject()
        object.set("outcome", .string(outcome))
        if let reason { object.set("reason", .string(reason)) }
        if let reasonCode { object.set("reason_code", .string(reasonCode)) }
        for (key, value) in ProgressJSON.members(result, dryRun: false) { object.set(key, value) }
        if let seconds { object.set("duration_seconds", .number(String(format: "%.3f", seconds))) }
        return JSONValue.object(object).serialized
    }

    static func text(_ result: SyncResult, seconds: Double) -> String {
        var lines: [String] = []
        for item in [result.pull, result.push].compactMap({ $0 }) {
            var line = "\(item.direction.rawValue): \(item.docsWritten) written of \(item.docsRead) read, \(item.missingChecked) revisions checked"
            if item.docWriteFailures > 0 { line += ", \(item.docWriteFailures) refused" }
            lines.append(line)
        }
        if result.conflicts != ConflictCounts() {
            lines.append("conflicts: \(result.conflicts.resolved) resolved, \(result.conflicts.unresolved) left unresolved")
        }
        lines.append(String(format: "synced in %.2f s", seconds))
        return lines.joined(separator: "\n")
    }
}
