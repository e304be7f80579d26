import ArgumentParser
import BGSyncJobs
import BGSyncStore
import Foundation

/// `bgsync status [TAG]`: what each job did last and what it will do next.
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the state of jobs: idle, running (with progress), skipped, backing off, failed, refused, cancelled.")

    @Argument(help: "One job's tag (default: every job the state database knows).")
    var tag: String?
    @Flag(help: "Print a JSON array of jobs.")
    var json = false
    @Option(help: "Also show the last N runs of each job.")
    var history: Int = 0
    @OptionGroup var state: StateOptions

    func validate() throws {
        if history < 0 { throw ValidationError("--history must be zero or more") }
    }

    func run() throws {
        let jobs: [JobRecord]
        var histories: [String: [RunRecord]] = [:]
        do {
            guard let database = try StateDatabase.openIfPresent(directory: state.directory) else {
                if let tag { throw JobError(.missingFile, "no job with tag \"\(tag)\" has run yet (no state database in \(state.directory))") }
                if json { Console.out("[]") } else { Console.out("no jobs have run yet (state: \(state.directory))") }
                return
            }
            if let tag {
                guard let job = try database.job(tag) else {
                    let known = try database.jobs().map(\.tag)
                    throw JobError(.missingFile, "no job with tag \"\(tag)\" has run yet (state: \(database.path); known tags: \(known.isEmpty ? "none" : known.joined(separator: ", ")))")
                }
                jobs = [job]
            } else {
                jobs = try database.jobs()
            }
            if history > 0 {
                for job in jobs { histories[job.tag] = try database.history(tag: job.tag, limit: history) }
            }
        } catch {
            throw report(error)
        }
        let now = Date()
        if json {
            Console.out(JSONValue.array(jobs.map { job in
                var object = JobStatus.json(job, now: now)
                if history > 0 { object.set("history", .array((histories[job.tag] ?? []).map(JobStatus.json))) }
                return .object(object)
            }).serialized)
            return
        }
        if jobs.isEmpty {
            Console.out("no jobs have run yet (state: \(state.directory))")
            return
        }
        for job in jobs {
            Console.out(JobStatus.line(job, now: now))
            for run in histories[job.tag] ?? [] {
                let outcome = run.outcome?.rawValue ?? "running"
                Console.out("    \(ISO8601.format(run.startedAt))  \(outcome)\(run.reason.map { ": " + $0 } ?? "")")
            }
        }
    }
}

/// The derived state of a job and its renderings.
enum JobStatus {
    static func state(_ job: JobRecord, now: Date) -> String {
        if !job.enabled { return "cancelled" }
        if job.isRunning { return "running" }
        if job.lastOutcome == .refused { return "refused" }  // waits for a human, whatever the backoff
        if job.consecutiveFailures > 0, let next = job.nextEligible, next > now { return "backing-off" }
        switch job.lastOutcome {
        case .failed?: return "failed"
        case .interrupted?: return "interrupted"  // stopped, not failed: due again at the next firing
        case .skipped?: return "skipped"
        case .refused?: return "refused"
        default: return "idle"
        }
    }

    static func json(_ job: JobRecord, now: Date) -> JSONObject {
        var object = JSONObject()
        object.set("tag", .string(job.tag))
        object.set("state", .string(state(job, now: now)))
        object.set("enabled", .bool(job.enabled))
        object.set("last_outcome", job.lastOutcome.map { .string($0.rawValue) } ?? .null)
        object.set("last_reason", job.lastReason.map { .string($0) } ?? .null)
        object.set("last_run", job.lastRun.map { .string(ISO8601.format($0)) } ?? .null)
        object.set("last_success", job.lastSuccess.map { .string(ISO8601.format($0)) } ?? .null)
        object.set("next_eligible", job.nextEligible.map { .string(ISO8601.format($0)) } ?? .null)
        object.set("consecutive_failures", .integer(job.consecutiveFailures))
        if job.isRunning {
            object.set("pid", job.runningPID.map { .integer(Int($0)) } ?? .null)
            object.set("progress", job.progress.flatMap { try? JSONValue.parse($0) } ?? .null)
        }
        return object
    }

    static func json(_ run: RunRecord) -> JSONValue {
        var object = JSONObject()
        object.set("started_at", .string(ISO8601.format(run.startedAt)))
        object.set("finished_at", run.finishedAt.map { .string(ISO8601.format($0)) } ?? .null)
        object.set("outcome", run.outcome.map { .string($0.rawValue) } ?? .null)
        object.set("reason", run.reason.map { .string($0) } ?? .null)
        object.set("exit_code", run.exitCode.map { .integer(Int($0)) } ?? .null)
        object.set("result", run.result.flatMap { try? JSONValue.parse($0) } ?? .null)
        return .object(object)
    }

    static func line(_ job: JobRecord, now: Date) -> String {
        var text = "\(job.tag): \(state(job, now: now))"
        if let outcome = job.lastOutcome { text += "; last run \(outcome.rawValue)" }
        if let reason = job.lastReason { text += " (\(reason))" }
        if let success = job.lastSuccess { text += "; last success \(ISO8601.format(success))" }
        if let next = job.nextEligible, next > now { text += "; next eligible \(ISO8601.format(next))" }
        if job.consecutiveFailures > 0 { text += "; \(job.consecutiveFailures) consecutive failures" }
        if job.isRunning, let progress = job.progress { text += "; progress \(progress)" }
        return text
    }
}
