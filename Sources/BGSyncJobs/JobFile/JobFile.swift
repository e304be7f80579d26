import BGSyncReplication
import BGSyncStore
import Foundation

/// A job file (TOML): one sync job — which factory builds its configuration, the input handed
/// to the factory, its constraints, schedule and backoff. The counterpart of a WorkManager
/// `WorkRequest`. See the README's job file reference.
public struct JobFile: Sendable {
    /// The file.
    public var path: String
    /// The job's tag (default: the file name without `.toml`); names its state and lock.
    public var tag: String
    /// The registry file (default: `registry.toml` beside the job).
    public var registry: String
    /// Whether `registry` was named explicitly (then a missing file is an error even for a
    /// compiled-in factory).
    package var registryExplicit: Bool
    /// The factory's name in the registry.
    public var factory: String
    /// Free data for the factory (`[input]`), as a JSON object.
    public var input: JSONObject
    /// When the job may run (network, battery, storage).
    package var constraints: JobConstraints
    /// Interval, flex, timeout and backoff.
    package var schedule: SchedulePolicy
    /// Commands run after a run, given the result as JSON on stdin.
    package var hooks: Hooks
    /// `[metrics] textfile`: a Prometheus node_exporter textfile rewritten after each run.
    package var metricsTextfile: String?
    /// `max_delete`: the mass-deletion guard, a percentage of the remote's documents (`"50%"`,
    /// the default) or a number of documents; `bgsync run --force` lifts it.
    public var maxDelete: DeletionLimit = .standard

    /// `on_success`, `on_failure`, `on_skip` commands (argv arrays, no shell).
    package struct Hooks: Sendable, Equatable {
        /// Run after a synced run.
        package var onSuccess: [String]?
        /// Run after a failed, interrupted or refused run.
        package var onFailure: [String]?
        /// Run after a skipped run.
        package var onSkip: [String]?
        /// How long a hook may take.
        package var timeout: Double = 30
    }

    static let topKeys = ["tag", "registry", "factory", "max_delete", "input", "constraints", "schedule", "backoff", "hooks", "metrics"]
    static let constraintKeys = ["network", "metered_unknown", "battery_not_low", "min_battery_percent", "requires_charging",
                                 "storage_not_low", "min_free_storage", "min_free_storage_percent"]
    static let scheduleKeys = ["interval", "flex", "timeout"]
    static let backoffKeys = ["policy", "delay", "max"]
    static let hookKeys = ["on_success", "on_failure", "on_skip", "timeout"]
    static let metricsKeys = ["textfile"]

    /// A job file read as far as possible, with every problem found in it (`bgsync check`).
    package struct Inspection: Sendable {
        /// The job, with the defaults in place of the values that have a problem (`factory`
        /// is empty when missing or invalid; `tag` falls back to the file's stem).
        package var job: JobFile
        /// Every problem, in the order of the file's sections; empty for a valid job file.
        package var problems: [JobError]
    }

    /// Loads and validates a job file.
    /// - Throws: ``JobError`` naming the file (missing, a directory, not readable), or the file,
    ///   line and key of the first problem.
    public static func load(path: String) throws -> JobFile {
        let inspection = try inspect(path: path)
        if let first = inspection.problems.first { throw first }
        return inspection.job
    }

    /// Reads a job file and collects every problem in it instead of stopping at the first:
    /// each key is checked on its own, and a key with a problem keeps its default.
    /// - Throws: ``JobError`` for a file that cannot be read, or that is not TOML (a NUL byte, invalid UTF-8, a syntax error): nothing can be checked then.
    package static func inspect(path: String) throws -> Inspection {
        let document = try TOMLDocument(path: path, what: "job file")
        let root = ConfigTable(document.root, file: path, document: document)
        var problems: [JobError] = []
        /// Runs one check; a problem is recorded and gives nil.
        func attempt<T>(_ body: () throws -> T?) throws -> T? {
            do {
                return try body()
            } catch let error as JobError {
                problems.append(error)
                return nil
            }
        }
        let sections = [("schedule", scheduleKeys), ("constraints", constraintKeys), ("backoff", backoffKeys), ("hooks", hookKeys), ("metrics", metricsKeys)]
        for key in root.object.keys where !topKeys.contains(key) {
            let misplaced = sections.lazy.compactMap { section, keys in
                (keys.first(where: { $0 == key }) ?? Suggestion.closest(to: key, among: keys)).map { (section: section, match: $0) }
            }.first
            if let misplaced {
                problems.append(root.error(key, "unknown key \"\(key)\" (did you mean \"\(misplaced.match)\" in the [\(misplaced.section)] table?)"))
            } else {
                problems.append(root.error(key, Suggestion.unknownKey(key, accepted: topKeys)))
            }
        }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent().path
        let defaultTag = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let tag = try attempt { () -> String? in
            let tag = try root.string("tag") ?? defaultTag
            guard JobTag.isValid(tag) else {
                throw root.error("tag", "\"\(tag)\" is not a valid tag; use letters, digits, '.', '_' and '-', starting with a letter or digit")
            }
            return tag
        } ?? defaultTag
        let registryText = try attempt { try root.string("registry") }
        let registry = registryText.map { $0.hasPrefix("/") ? $0 : base + "/" + $0 } ?? base + "/registry.toml"
        let factory = try attempt { try root.requiredString("factory", "the name of a factory in the registry") } ?? ""
        let input = try attempt { try root.table("input")?.object } ?? JSONObject()
        let maxDelete = try attempt { try root.deletionLimit("max_delete") } ?? .standard

        var constraints = JobConstraints()
        if let table = try attempt({ try root.table("constraints") }) {
            problems += table.unknownKeys(constraintKeys)
            if let network = try attempt({ try table.choice("network", JobConstraints.Network.self) }) { constraints.network = network }
            if let unknown = try attempt({ try table.choice("metered_unknown", JobConstraints.MeteredUnknown.self, accepted: ["unmetered", "metered"]) }) {
                constraints.meteredUnknown = unknown
            }
            constraints.batteryNotLow = try attempt { try table.bool("battery_not_low") } ?? false
            constraints.minBatteryPercent = try attempt { try table.int("min_battery_percent", range: 0...100) } ?? constraints.minBatteryPercent
            constraints.requiresCharging = try attempt { try table.bool("requires_charging") } ?? false
            constraints.storageNotLow = try attempt { try table.bool("storage_not_low") } ?? false
            constraints.minFreeStorageBytes = try attempt { try table.size("min_free_storage") } ?? constraints.minFreeStorageBytes
            if let percent = try attempt({ try table.int("min_free_storage_percent", range: 0...100) }) { constraints.minFreeStoragePercent = Double(percent) }
        }
        var schedule = SchedulePolicy()
        if let table = try attempt({ try root.table("schedule") }) {
            problems += table.unknownKeys(scheduleKeys)
            schedule.interval = try attempt { try table.duration("interval") }
            schedule.flex = try attempt { try table.duration("flex") } ?? 0
            schedule.timeout = try attempt { try table.duration("timeout") }
            if let interval = schedule.interval, schedule.flex > interval {
                problems.append(table.error("flex", "flex (\(DurationText.format(schedule.flex))) must not exceed interval (\(DurationText.format(interval)))"))
                schedule.flex = 0
            }
            if schedule.timeout == 0 {
                problems.append(table.error("timeout", "must be more than 0s"))
                schedule.timeout = nil
            }
        }
        if let table = try attempt({ try root.table("backoff") }) {
            problems += table.unknownKeys(backoffKeys)
            schedule.backoff = try attempt { try table.choice("policy", SchedulePolicy.Backoff.self) } ?? .exponential
            schedule.backoffDelay = try attempt { try table.duration("delay") } ?? schedule.backoffDelay
            schedule.backoffMax = try attempt { try table.duration("max") } ?? schedule.backoffMax
            if schedule.backoffMax < schedule.backoffDelay {
                problems.append(table.error(table.object["max"] != nil ? "max" : "delay",
                                            "max (\(DurationText.format(schedule.backoffMax))) is below delay (\(DurationText.format(schedule.backoffDelay))): the backoff would never reach its first delay; give a max of at least the delay"))
            }
            if schedule.backoffDelay <= 0 { problems.append(table.error("delay", "must be more than 0s")) }
        }
        var hooks = Hooks()
        if let table = try attempt({ try root.table("hooks") }) {
            problems += table.unknownKeys(hookKeys)
            for key in ["on_success", "on_failure", "on_skip"] {
                let command = try attempt { () -> [String]? in
                    let command = try table.stringArray(key)
                    if command?.isEmpty == true {
                        throw table.error(key, "expected a command as an array, e.g. [\"/usr/bin/curl\", \"-fsS\", \"https://hc-ping.com/…\"]")
                    }
                    return command
                }
                switch key {
                case "on_success": hooks.onSuccess = command
                case "on_failure": hooks.onFailure = command
                default: hooks.onSkip = command
                }
            }
            hooks.timeout = try attempt { try table.duration("timeout") } ?? hooks.timeout
        }
        var metricsTextfile: String?
        if let table = try attempt({ try root.table("metrics") }) {
            problems += table.unknownKeys(metricsKeys)
            metricsTextfile = try attempt { () -> String? in
                guard let textfile = try table.string("textfile") else { return nil }
                guard !textfile.isEmpty, !textfile.hasSuffix("/") else {
                    throw table.error("textfile", "expected a file path, e.g. \"/var/lib/node_exporter/textfile/bgsync-\(tag).prom\"")
                }
                return textfile.hasPrefix("/") ? textfile : base + "/" + textfile
            }
        }
        let job = JobFile(path: path, tag: tag, registry: registry, registryExplicit: registryText != nil, factory: factory,
                          input: input, constraints: constraints, schedule: schedule, hooks: hooks, metricsTextfile: metricsTextfile,
                          maxDelete: maxDelete)
        return Inspection(job: job, problems: problems)
    }

    /// Finds a job by path, or by name in the jobs directories (`$XDG_CONFIG_HOME/bgsync/jobs`,
    /// `/etc/bgsync/jobs`).
    package static func locate(_ name: String, environment: [String: String]) throws -> String {
        if name.contains("/") || name.hasSuffix(".toml") {
            try InputFile.checkReadable(name, what: "job file")
            return name
        }
        var directories: [String] = []
        if let config = environment["XDG_CONFIG_HOME"], !config.isEmpty {
            directories.append(config + "/bgsync/jobs")
        } else if let home = environment["HOME"], !home.isEmpty {
            directories.append(home + "/.config/bgsync/jobs")
        }
        directories.append("/etc/bgsync/jobs")
        for directory in directories {
            let candidate = directory + "/" + name + ".toml"
            if FileManager.default.fileExists(atPath: candidate) { return candidate }
        }
        if FileManager.default.fileExists(atPath: name) {
            try InputFile.checkReadable(name, what: "job file")
            return name
        }
        throw JobError(.missingFile, "\(name): no such job file (looked for \(name).toml in \(directories.joined(separator: ", ")))")
    }
}
