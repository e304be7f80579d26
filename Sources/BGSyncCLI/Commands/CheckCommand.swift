import ArgumentParser
import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import Foundation

/// `bgsync check JOB`: validate a job and its registry, show each constraint and whether the
/// job is due — without syncing, and without writing anything (the state is read if it exists).
struct CheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a job and its registry, show each constraint's value and verdict, and whether the job is due.")

    @Argument(help: "A job file or name.")
    var job: String
    @Flag(help: "Print one JSON object.")
    var json = false
    @OptionGroup var state: StateOptions

    func run() async throws {
        let environment = state.environment
        do {
            let path = try JobFile.locate(job, environment: environment)
            try FilePermissions.checkTrusted(path, what: "job file")
            let file = try JobFile.load(path: path)
            let registry = try FactoryRegistry.load(path: file.registry, required: file.registryExplicit)
            let configuration = try await registry.makeConfiguration(factory: file.factory, input: file.input, environment: environment)
            let root = environment["BGSYNC_SYSTEM_ROOT"].flatMap { $0.isEmpty ? nil : $0 } ?? "/"
            let verdicts = file.constraints.evaluate(probe: SystemProbe(root: root, path: environment["PATH"]), databasePath: configuration.database)
            // Read-only: check writes nothing (no state directory or database is created).
            let record = try? StateDatabase.openReadOnly(directory: state.directory)?.job(file.tag)
            let decision = ScheduleDecider.decide(job: record, policy: file.schedule, now: Date(), force: false)
            let due: String
            switch decision {
            case .run: due = "due now"
            case .skip(let reason): due = reason.description
            }
            if json {
                var object = JSONObject()
                object.set("tag", .string(file.tag))
                object.set("valid", .bool(true))
                object.set("factory", .string(file.factory))
                object.set("database", .string(configuration.database))
                object.set("remote", .string(configuration.remote.description))
                object.set("direction", .string(configuration.direction.rawValue))
                object.set("due", .string(due))
                object.set("constraints", .array(verdicts.map { verdict in
                    .object(JSONObject([("constraint", .string(verdict.constraint)), ("satisfied", .bool(verdict.satisfied)),
                                        ("measured", .string(verdict.measured)), ("threshold", .string(verdict.threshold))]))
                }))
                Console.out(JSONValue.object(object).serialized)
            } else {
                Console.out("""
                    \(file.tag): valid (\(path))
                      factory:   \(file.factory) from \(registry.path ?? "this build")
                      database:  \(configuration.database)
                      remote:    \(configuration.remote)
                      direction: \(configuration.direction.rawValue)
                      schedule:  \(due)
                    """)
                for verdict in verdicts {
                    Console.out("  \(verdict.satisfied ? "ok  " : "FAIL") \(verdict.constraint): \(verdict.measured) (needs \(verdict.threshold))")
                }
            }
        } catch {
            throw fail(error)
        }
    }
}
