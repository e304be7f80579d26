import BGSyncReplication
import BGSyncStore
import Foundation
import Logging
import Synchronization

/// One run of one job, as DESIGN §5 "A run" describes: load the job, resolve its factory, take
/// the per-tag lock, check enabled / due / backoff, check constraints, build the configuration,
/// record "running", pull then push under the deadline, record the outcome, run hooks.
public struct JobRunner: Sendable {
    /// How the run is invoked.
    public struct Options: Sendable {
        /// `--force`: run now, ignoring due time, backoff and constraints (not a cancellation,
        /// nor the mass-deletion guard).
        public var force = false
        /// `--allow-mass-deletion`: push even a mass deletion (lifts the job's `max_delete`
        /// for this run; the deletions pushed are logged).
        public var allowMassDeletion = false
        /// `--dry-run`: report what would be transferred and change nothing — neither side, no
        /// file created, nothing in the state database (read only if it exists), no metrics
        /// textfile, no hooks. The run lock is taken only if its file exists already.
        public var dryRun = false
        /// The state directory (resolved by the caller).
        public var stateDirectory: String
        /// The environment for credentials, exec factories, hooks and the constraint probes
        /// (`BGSYNC_SYSTEM_ROOT`, `PATH`: ``SystemProbe/init(environment:)``).
        public var environment: [String: String]
        /// The process's stop switch (SIGTERM, SIGINT, `bgsync cancel`); each run also stops
        /// at its job's `timeout`.
        public var stop = RunStop()

        /// Creates options.
        public init(stateDirectory: String, environment: [String: String]) {
            self.stateDirectory = stateDirectory
            self.environment = environment
        }
    }

    /// What a run did.
    public struct Report: Sendable {
        /// The job's tag (or, when the job could not be read, its file's name without `.toml`).
        public var tag: String
        /// synced, skipped, failed, interrupted or refused.
        public var outcome: RunOutcome
        /// Why it was skipped, failed or interrupted.
        public var reason: String?
        /// Machine-readable reason, on every outcome but synced: a skip's (`not_due`,
        /// `constraint`, …), an interruption's (`signal`, `deadline`, `cancelled`), or the
        /// failure's kind (``SysExit/reasonCode(for:)``: `configuration`, `unreachable`, …).
        public var reasonCode: String?
        /// The process exit code for this run.
        public var exitCode: Int32
        /// The replication's counters, when it ran.
        public var result: SyncResult?
        /// Constraint verdicts, when they were checked.
        public var constraints: [ConstraintVerdict] = []
        /// Seconds the run took.
        public var duration: Double = 0
        /// When the job may run next.
        public var nextEligible: Date?
        /// Whether this was a dry run (nothing was changed).
        public var dryRun = false
        /// In a dry run, the files a real run would create (a missing local database or `file:` remote).
        public var wouldCreate: [String] = []
    }

    /// Options of this runner.
    public var options: Options
    /// Where it logs.
    public var logger: Logger
    /// Called with live progress (for a progress bar); already throttled to the state database.
    public var progress: (@Sendable (ReplicationProgress) -> Void)?

    /// Creates a runner.
    public init(options: Options, logger: Logger) {
        self.options = options
        self.logger = logger
    }

    /// Runs the job at `path`. Never throws: every failure becomes a report with its exit code
    /// (and, once the job is known, a record in the state database).
    ///
    /// The steps: load the job and its registry; take the run lock (else skip: already
    /// running); ask the schedule (else skip: not due, backing off, disabled); check the
    /// constraints (else skip); sync under the run's stop switch; record the outcome; write
    /// the metrics; run the hook.
    public func run(jobPath path: String) async -> Report {
        let started = Date()
        let job: JobFile
        let registry: FactoryRegistry
        do {
            try FilePermissions.checkTrusted(path, what: "job file")
            job = try JobFile.load(path: path)
            registry = try FactoryRegistry.load(path: job.registry, required: job.registryExplicit)
            try registry.validate(factory: job.factory)
        } catch {
            return .failure(tag: Self.stem(of: path), error)
        }
        var logger = self.logger
        logger[metadataKey: "tag"] = "\(job.tag)"
        // This run's switch: the process's, plus the job's deadline counted from the start.
        let stop = options.stop.child()
        let deadline = job.schedule.timeout.map { stop.stop(.deadline(seconds: $0), after: $0 - Date().timeIntervalSince(started)) }
        defer { deadline?.cancel() }
        do {
            let state = try RunState.open(directory: options.stateDirectory, dryRun: options.dryRun)
            let pid = getpid()
            func skipped(_ reason: SkipReason) async -> Report {
                await skip(reason, job: job, state: state, pid: pid, started: started, stop: stop, logger: logger)
            }
            guard let lock = try RunLock.acquire(stateDirectory: options.stateDirectory, tag: job.tag, creating: !options.dryRun) else {
                return await skipped(.alreadyRunning(pid: RunLock.holderPID(stateDirectory: options.stateDirectory, tag: job.tag)))
            }
            defer { lock.release() }
            if case .skip(let reason) = ScheduleDecider.decide(job: try state.job(job.tag), policy: job.schedule, now: Date(), force: options.force) {
                return await skipped(reason)
            }
            let verdicts = options.force ? [] : checkConstraints(job, registry: registry)
            if let failed = verdicts.first(where: { !$0.satisfied }) {
                var report = await skipped(.constraint(failed.reason))
                report.constraints = verdicts
                return report
            }
            let runID = try state.beginRun(tag: job.tag, pid: pid, jobFile: path, at: started)
            var report = await sync(job, registry: registry, state: state, runID: runID, stop: stop, logger: logger)
            report.constraints = verdicts
            report.duration = Date().timeIntervalSince(started)
            record(&report, job: job, runID: runID, state: state, logger: logger)
            writeMetrics(job: job, report: report, state: state, started: started, logger: logger)
            await runHooks(job: job, report: report, stop: stop, logger: logger)
            return report
        } catch {
            return .failure(tag: job.tag, error)
        }
    }

    /// The constraints' verdicts, measured now.
    private func checkConstraints(_ job: JobFile, registry: FactoryRegistry) -> [ConstraintVerdict] {
        let probe = SystemProbe(environment: options.environment)
        let databaseHint = (try? registry.databasePathHint(factory: job.factory, input: job.input, environment: options.environment)) ?? nil
        return job.constraints.evaluate(probe: probe, databasePath: databaseHint ?? options.stateDirectory)
    }

    /// Builds the configuration with the job's factory and replicates, under `stop`; the
    /// report says how it ended (synced, interrupted, refused or failed).
    private func sync(_ job: JobFile, registry: FactoryRegistry, state: RunState, runID: Int64, stop: RunStop, logger: Logger) async -> Report {
        var report = Report(tag: job.tag, outcome: .synced, reason: nil, reasonCode: nil, exitCode: SysExit.ok)
        report.dryRun = options.dryRun
        do {
            let runner = self, runLogger = logger
            let (result, wouldCreate) = try await stop.perform {
                let logger = runLogger
                var configuration = try await registry.makeConfiguration(factory: job.factory, input: job.input, environment: runner.options.environment)
                let wouldCreate = runner.options.dryRun ? RunState.missingFiles(configuration) : []
                configuration.maxDelete = runner.options.allowMassDeletion ? nil : job.maxDelete
                if configuration.http.insecure {
                    logger.warning("TLS certificate verification is OFF for this job (tls.insecure = true)")
                }
                var replicator = Replicator(configuration: configuration, logger: logger)
                replicator.dryRun = runner.options.dryRun
                replicator.shouldStop = { stop.isStopped }
                let throttle = ProgressThrottle(interval: 1)
                let onProgress = runner.progress
                replicator.progress = { update in
                    onProgress?(update)
                    if throttle.shouldWrite() {
                        try? state.updateProgress(runID: runID, tag: job.tag, json: ProgressJSON.encode(update))
                    }
                }
                return (try await replicator.run(), wouldCreate)
            }
            report.result = result
            report.wouldCreate = wouldCreate
            logger.info(options.dryRun ? "dry run" : "synced", metadata: ProgressJSON.metadata(report.result))
        } catch let error where stop.isStopped {
            // Whatever the stopped work ended with (a cancelled request, a batch boundary, a
            // factory killed), the run was interrupted: what is durable stays.
            report.outcome = .interrupted
            report.reason = interruption(stop.reason, error: error, tag: job.tag, state: state)
            report.reasonCode = report.reason?.hasPrefix("cancelled") == true ? "cancelled" : stop.reason?.code ?? "interrupted"
            report.exitCode = SysExit.tempFail
            report.result = (error as? ReplicationError)?.partialResult
        } catch {
            // A refused mass deletion is not a failure of the sync machinery: the pull
            // completed, the push waits for a human.
            let refused = (error as? ReplicationError)?.kind == .deletionRefused
            report.outcome = refused ? .refused : .failed
            report.reason = refused ? (error as? ReplicationError)?.message : "\(error)"
            report.reasonCode = SysExit.reasonCode(for: error)
            report.exitCode = SysExit.code(for: error)
            report.result = (error as? ReplicationError)?.partialResult
        }
        return report
    }

    /// Records the run's end in the state database (and the next eligible time in `report`).
    private func record(_ report: inout Report, job: JobFile, runID: Int64, state: RunState, logger: Logger) {
        do {
            let updated = try state.finishRun(
                runID: runID, tag: job.tag, outcome: report.outcome, reason: report.reason,
                error: report.outcome == .failed || report.outcome == .refused ? report.reason : nil,
                exitCode: report.exitCode, resultJSON: report.result.map { ProgressJSON.result($0, dryRun: options.dryRun) },
                policy: job.schedule, at: Date())
            report.nextEligible = updated.nextEligible
            try? state.pruneHistory(keepPerTag: 1000)
        } catch {
            logger.error("could not record the run", metadata: ["error": "\(error)"])
            if report.exitCode == SysExit.ok { report.exitCode = SysExit.code(for: error) }
        }
    }

    /// The tag a job that could not be loaded is reported under: its file's name without
    /// `.toml` (the default tag), not its path.
    static func stem(of path: String) -> String {
        URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
    }

    private func skip(_ reason: SkipReason, job: JobFile, state: RunState, pid: Int32, started: Date, stop: RunStop, logger: Logger) async -> Report {
        logger.info("skipped", metadata: ["reason": "\(reason.description(tag: job.tag))"])
        var report = Report(tag: job.tag, outcome: .skipped, reason: reason.description(tag: job.tag), reasonCode: reason.code, exitCode: SysExit.ok)
        report.dryRun = options.dryRun
        do {
            try state.recordSkip(tag: job.tag, reason: reason, pid: pid, jobFile: job.path, at: started)
            report.nextEligible = try state.job(job.tag).flatMap { ScheduleDecider.eligibleAt(job: $0, policy: job.schedule, now: Date()) }
        } catch {
            logger.error("could not record the skip", metadata: ["error": "\(error)"])
            report.exitCode = SysExit.code(for: error)
        }
        writeMetrics(job: job, report: report, state: state, started: started, logger: logger)
        await runHooks(job: job, report: report, stop: stop, logger: logger)
        return report
    }
}

extension JobRunner.Report {
    /// A run that failed before it could sync (the job, its registry or the state could not be
    /// read, the lock not taken): `error`'s reason and exit code.
    static func failure(tag: String, _ error: any Error) -> Self {
        Self(tag: tag, outcome: .failed, reason: "\(error)", reasonCode: SysExit.reasonCode(for: error), exitCode: SysExit.code(for: error))
    }
}

extension JobRunner {
    /// Runs the hook for the report's outcome under the run's stop switch: a stopped run's hook
    /// gets the switch's grace period, and a hook still running when a stop arrives is ended.
    func runHooks(job: JobFile, report: Report, stop: RunStop, logger: Logger) async {
        guard !options.dryRun else { return }  // a dry run is not a run to report
        let environment = options.environment
        do {
            try await stop.perform {
                await Hooks.run(job.hooks, report: report, environment: environment, logger: logger)
            }
        } catch {
            logger.warning("hook stopped", metadata: ["reason": "\(stop.reason?.description ?? "\(error)")"])
        }
    }

    /// Why a stopped run ended, in words: the stop's reason (a `bgsync cancel` told apart from
    /// other SIGTERMs by the job being disabled), then where the replication stopped.
    func interruption(_ reason: StopReason?, error: any Error, tag: String, state: RunState) -> String {
        var text = reason?.description ?? "stopped"
        if case .signal = reason, let record = try? state.job(tag), !record.enabled {
            text = "cancelled (bgsync cancel)"
        }
        if let error = error as? ReplicationError, error.kind == .interrupted {
            text += "; " + error.message
        }
        return text
    }

    /// Rewrites the job's metrics textfile, if it has one. A failure is logged and never
    /// changes the run's outcome or exit code.
    func writeMetrics(job: JobFile, report: Report, state: RunState, started: Date, logger: Logger) {
        guard let path = job.metricsTextfile, !options.dryRun else { return }
        let record = try? state.job(job.tag)
        let sample = MetricsTextfile.Sample(
            tag: job.tag, outcome: report.outcome, runAt: started, lastSuccess: record?.lastSuccess, duration: report.duration,
            consecutiveFailures: record?.consecutiveFailures ?? 0, result: report.result)
        do {
            try MetricsTextfile.write(sample, to: path)
        } catch {
            logger.warning("could not write the metrics textfile", metadata: ["error": "\(error)"])
        }
    }
}

/// Lets one progress write through per interval.
final class ProgressThrottle: Sendable {
    private let last = Mutex<Date>(.distantPast)
    let interval: Double
    init(interval: Double) { self.interval = interval }
    func shouldWrite() -> Bool {
        last.withLock { last in
            let now = Date()
            guard now.timeIntervalSince(last) >= interval else { return false }
            last = now
            return true
        }
    }
}
