import ArgumentParser
import BGSyncJobs
import BGSyncStore
import Foundation

/// `bgsync run JOB...`: one run of each job, as a timer or cron would start it.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run jobs once: check due time, backoff and constraints, then pull and push.",
        discussion: """
            JOB is a job file or a name in $XDG_CONFIG_HOME/bgsync/jobs or /etc/bgsync/jobs. A run \
            that is not due, is backing off, whose constraints are unmet or whose job is already \
            running records why and exits 0. SIGTERM, SIGINT, `bgsync cancel` and the job's \
            timeout end a run within 2 seconds wherever it is (checkpoints kept, outcome interrupted, \
            exit 75). --dry-run decides and reports as a run would, but changes nothing: no state, \
            no file created, no checkpoint, no metrics, no hooks. Exit codes: see `bgsync --help`.
            """
    )

    @Argument(help: "Job files or names.")
    var jobs: [String]
    @Flag(help: "Run now: ignore due time, backoff and constraints (not a cancellation, nor max_delete).")
    var force = false
    @Flag(help: "Push even a mass deletion: lift the job's max_delete for this run (the deletions pushed are logged).")
    var allowMassDeletion = false
    @Flag(help: "Report what would be transferred; change nothing (no state, files, checkpoints, metrics or hooks).")
    var dryRun = false
    @Flag(help: "Print one JSON object per job (an array for several jobs).")
    var json = false
    @OptionGroup var state: StateOptions
    @OptionGroup var log: LogOptions

    func run() async throws {
        let stop = RunStop()
        SignalWatcher.install(stop)
        let environment = state.environment
        var options = JobRunner.Options(stateDirectory: state.directory, environment: environment)
        options.force = force
        options.allowMassDeletion = allowMassDeletion
        options.dryRun = dryRun
        options.stop = stop
        var runner = JobRunner(options: options, logger: log.makeLogger())
        let progressBar = ProgressBar.make(quiet: log.quiet)
        if let progressBar { runner.progress = { progressBar.update($0) } }
        var reports: [JobRunner.Report] = []
        for name in jobs {
            let path: String
            do {
                path = try JobFile.locate(name, environment: environment)
            } catch {
                throw report(error)
            }
            let report = await runner.run(jobPath: path)
            progressBar?.clear()
            reports.append(report)
            printReport(report)
            if stop.isStopped { break }
        }
        if json {
            Console.out(reports.count == 1 ? reports[0].json.serialized : JSONValue.array(reports.map(\.json)).serialized)
        }
        if let failed = reports.first(where: { $0.exitCode != 0 }) {
            throw ExitCode(failed.exitCode)
        }
    }

    /// `TAG: OUTCOME: REASON`, saying nothing twice: a reason that already starts with the tag
    /// is printed alone, and a reason that starts with the outcome ("push refused: …") is not
    /// preceded by it again. A job that could not be read goes by its file's stem.
    static func failureLine(_ report: JobRunner.Report) -> String {
        let reason = report.reason ?? ""
        if reason.hasPrefix(report.tag + ":") { return reason }
        let firstClause = reason.prefix { $0 != ":" && $0 != ";" }
        if firstClause.hasSuffix(report.outcome.rawValue) { return "\(report.tag): \(reason)" }
        return "\(report.tag): \(report.outcome.rawValue): \(reason)"
    }

    /// Prints a failure once, on standard error (also with `--json`, whose object goes to
    /// standard output), and, without `--json`, one line for a sync or a skip.
    private func printReport(_ report: JobRunner.Report) {
        switch report.outcome {
        case .synced where json, .skipped where json:
            return
        case .synced:
            var parts: [String] = []
            if let pull = report.result?.pull { parts.append("pull \(dryRun ? pull.missingFound : pull.docsWritten)") }
            if let push = report.result?.push { parts.append("push \(dryRun ? push.missingFound : push.docsWritten)") }
            let failures = (report.result?.pull?.docWriteFailures ?? 0) + (report.result?.push?.docWriteFailures ?? 0)
            if failures > 0 { parts.append("\(failures) refused") }
            let created = report.wouldCreate.isEmpty ? "" : "; would create \(report.wouldCreate.joined(separator: ", "))"
            Console.out("\(report.tag): \(dryRun ? "dry run, revisions to transfer" : "synced, documents written"): \(parts.joined(separator: ", ")) in \(String(format: "%.2f", report.duration)) s\(created)")
        case .skipped:
            Console.out("\(report.tag): \(dryRun ? "dry run: a real run would skip" : "skipped"): \(report.reason ?? "")")
        case .failed, .interrupted, .refused:
            Console.error(Self.failureLine(report))
        }
    }
}
