import ArgumentParser
import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import Foundation

/// `bgsync check JOB`: validate a job and its registry, show the parsed schedule, backoff,
/// `max_delete`, each constraint and whether the job is due — without syncing, and without
/// writing anything (the state is read if it exists). Every problem found is printed, not only
/// the first: the job file's keys, the registry, the factory's configuration and the state are
/// checked independently.
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a job and its registry, show its schedule, backoff, max_delete, each constraint's value and verdict, and whether the job is due.",
        discussion: """
            Prints every problem found (job file keys, registry, factory configuration, state), \
            one line each on standard error, and exits with the first one's code (78 for a \
            configuration problem; 66 when the job file does not exist, 77 for one that others \
            can write). Writes nothing.
            """)

    @Argument(help: "A job file or name.")
    var job: String
    @Flag(help: "Print one JSON object.")
    var json = false
    @OptionGroup var state: StateOptions

    func run() async throws {
        let environment = state.environment
        let path: String
        do {
            path = try JobFile.locate(job, environment: environment)
        } catch {
            throw report(error)
        }
        var problems: [any Error] = []
        /// Runs one check; its problem is recorded and gives nil.
        func attempt<T>(_ body: () throws -> T?) -> T? {
            do {
                return try body()
            } catch {
                problems.append(error)
                return nil
            }
        }
        _ = attempt { try FilePermissions.checkTrusted(path, what: "job file") }
        guard let inspection = attempt({ try JobFile.inspect(path: path) }) else {
            throw finish(problems)  // not TOML at all: nothing else can be checked
        }
        problems += inspection.problems as [any Error]
        let file = inspection.job
        let registry = attempt { try FactoryRegistry.load(path: file.registry, required: file.registryExplicit) }
        var configuration: ReplicatorConfiguration?
        if let registry, !file.factory.isEmpty {
            do {
                configuration = try await registry.makeConfiguration(factory: file.factory, input: file.input, environment: environment)
            } catch {
                problems.append(error)
            }
        }
        let databaseHint = configuration?.database
            ?? (try? registry?.databasePathHint(factory: file.factory, input: file.input, environment: environment)) ?? nil
        let verdicts = file.constraints.evaluate(probe: SystemProbe(environment: environment), databasePath: databaseHint ?? state.directory)
        // Read-only: check writes nothing (no state directory or database is created).
        let record = attempt { try StateDatabase.openReadOnly(directory: state.directory)?.job(file.tag) }
        let due: String
        switch ScheduleDecider.decide(job: record, policy: file.schedule, now: Date(), force: false) {
        case .run: due = "due now"
        case .skip(let reason): due = reason.description
        }

        let schedule = file.schedule
        let interval = schedule.interval.map(DurationText.format)
        let timeout = schedule.timeout.map(DurationText.format)
        if json {
            var object = JSONObject()
            object.set("tag", .string(file.tag))
            object.set("valid", .bool(problems.isEmpty))
            object.set("problems", .array(problems.map { .string("\($0)") }))
            object.set("factory", .string(file.factory))
            object.set("registry", registry?.path.map { .string($0) } ?? .null)
            object.set("database", configuration.map { .string($0.database) } ?? .null)
            object.set("remote", configuration.map { .string($0.remote.description) } ?? .null)
            object.set("direction", configuration.map { .string($0.direction.rawValue) } ?? .null)
            object.set("schedule", .object(JSONObject([
                ("interval", interval.map { .string($0) } ?? .null), ("flex", .string(DurationText.format(schedule.flex))),
                ("timeout", timeout.map { .string($0) } ?? .null)])))
            object.set("backoff", .object(JSONObject([
                ("policy", .string(schedule.backoff.rawValue)), ("delay", .string(DurationText.format(schedule.backoffDelay))),
                ("max", .string(DurationText.format(schedule.backoffMax)))])))
            object.set("max_delete", .string(file.maxDelete.description))
            object.set("due", .string(due))
            object.set("constraints", .array(verdicts.map { verdict in
                .object(JSONObject([("constraint", .string(verdict.constraint)), ("satisfied", .bool(verdict.satisfied)),
                                    ("measured", .string(verdict.measured)), ("threshold", .string(verdict.threshold))]))
            }))
            Console.out(JSONValue.object(object).serialized)
        } else {
            let verdict = problems.isEmpty ? "valid" : "invalid, \(problems.count) problem\(problems.count == 1 ? "" : "s")"
            var lines = ["\(file.tag): \(verdict) (\(path))"]
            if !file.factory.isEmpty { lines.append("  factory:    \(file.factory) from \(registry.map { $0.path ?? "this build" } ?? file.registry)") }
            if let configuration {
                lines.append("  database:   \(configuration.database)")
                lines.append("  remote:     \(configuration.remote)")
                lines.append("  direction:  \(configuration.direction.rawValue)")
            }
            lines.append("  schedule:   interval \(interval ?? "none (every run is due)"), flex \(DurationText.format(schedule.flex)), timeout \(timeout ?? "none")")
            lines.append("  backoff:    \(schedule.backoff.rawValue), delay \(DurationText.format(schedule.backoffDelay)), max \(DurationText.format(schedule.backoffMax))")
            lines.append("  max_delete: \(file.maxDelete)")
            lines.append("  due:        \(due)")
            for verdict in verdicts {
                lines.append("  \(verdict.satisfied ? "ok  " : "FAIL") \(verdict.constraint): \(verdict.measured) (needs \(verdict.threshold))")
            }
            Console.out(lines.joined(separator: "\n"))
        }
        if !problems.isEmpty { throw finish(problems) }
    }

    /// Prints each problem on standard error, once; the exit code is the first one's.
    private func finish(_ problems: [any Error]) -> ExitCode {
        for problem in problems { Console.error("\(problem)") }
        return ExitCode(problems.first.map(SysExit.code(for:)) ?? SysExit.config)
    }
}
