import ArgumentParser
import BGSyncJobs
import BGSyncStore
import Foundation

/// `bgsync cancel JOB`: stop a running sync cleanly and disable the job.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Disable a job (later runs skip as cancelled) and stop its running sync at the next batch boundary.",
        discussion: "JOB is a job file or name, as for `run`, or a tag the state database knows; any other is refused (exit 66).")

    @Argument(help: "A job file or name, or a known tag.")
    var job: String
    @OptionGroup var state: StateOptions

    func run() throws {
        do {
            let tag = try JobReference.tag(of: job, state: state)
            let database = try state.open()
            try database.setEnabled(tag, false)
            if let record = try database.job(tag), record.isRunning, let pid = record.runningPID {
                kill(pid, SIGTERM)
                Console.out("\(tag): cancelled; asked the running sync (pid \(pid)) to stop")
            } else {
                Console.out("\(tag): cancelled; `bgsync resume \(tag)` enables it again")
            }
        } catch {
            throw report(error)
        }
    }
}

/// `bgsync resume JOB`: enable a cancelled job.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume", abstract: "Enable a cancelled job again.",
        discussion: "JOB is a job file or name, as for `run`, or a tag the state database knows; any other is refused (exit 66).")

    @Argument(help: "A job file or name, or a known tag.")
    var job: String
    @OptionGroup var state: StateOptions

    func run() throws {
        do {
            let tag = try JobReference.tag(of: job, state: state)
            try state.open().setEnabled(tag, true)
            Console.out("\(tag): enabled")
        } catch {
            throw report(error)
        }
    }
}

/// How `cancel` and `resume` find the job they act on.
enum JobReference {
    /// The tag of the job `name` names: a job file's path or a name in the jobs directories (as
    /// `run` takes it; the file's tag), else a tag that the state database already knows. Nothing
    /// is created while looking.
    /// - Throws: ``JobError`` (`missingFile`, exit 66) naming where it looked and the known tags,
    ///   so that a typo never creates a phantom job; the job file's own error when it names a
    ///   file that cannot be read and no known tag either.
    static func tag(of name: String, state: StateOptions) throws -> String {
        let known = try StateDatabase.openReadOnly(directory: state.directory)?.jobs().map(\.tag) ?? []
        let located: String
        do {
            located = try JobFile.locate(name, environment: state.environment)
        } catch let error as JobError where error.kind == .missingFile {
            if known.contains(name) { return name }
            let list = "known tags: " + (known.isEmpty ? "none" : known.joined(separator: ", "))
            let message = JobTag.isValid(name) ? "\(error.message); no job with tag \"\(name)\" has run either (\(list))" : "\(error.message) (\(list))"
            throw JobError(.missingFile, message)
        }
        do {
            return try JobFile.load(path: located).tag
        } catch {
            if known.contains(name) { return name }
            throw error
        }
    }
}

/// `bgsync factories`: the factories a registry and this build offer.
struct FactoriesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factories", abstract: "List the factories of a registry and those compiled into this build.")

    @Option(help: "A registry file (default: /etc/bgsync/registry.toml, if it exists); a file given here must exist (exit 66).")
    var registry: String?
    @Flag(help: "Print a JSON array.")
    var json = false

    func run() throws {
        let loaded: FactoryRegistry
        let registry = self.registry ?? "/etc/bgsync/registry.toml"
        do {
            // Named on the command line: missing is exit 66 (the default may be absent).
            if self.registry != nil { try InputFile.checkReadable(registry, what: "registry") }
            loaded = try FactoryRegistry.load(path: registry, required: false)
        } catch {
            throw report(error)
        }
        let rows: [(String, String)] = loaded.names.map { name in
            (name, loaded.entries[name]?.kind ?? "swift (compiled in)")
        }
        if json {
            Console.out(JSONValue.array(rows.map { .object(JSONObject([("name", .string($0.0)), ("kind", .string($0.1))])) }).serialized)
        } else if rows.isEmpty {
            Console.out("no factories (registry \(registry) \(loaded.path == nil ? "does not exist" : "defines none"))")
        } else {
            for (name, kind) in rows { Console.out("\(name)\t\(kind)") }
        }
    }
}
