import ArgumentParser
import BGSyncJobs
import BGSyncStore
import Foundation

/// `bgsync cancel TAG`: stop a running sync cleanly and disable the job.
struct CancelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel",
        abstract: "Disable a job (later runs skip as cancelled) and stop its running sync at the next batch boundary.")

    @Argument(help: "The job's tag.")
    var tag: String
    @OptionGroup var state: StateOptions

    func run() throws {
        do {
            guard JobFile.isValidTag(tag) else { throw ValidationError("\"\(tag)\" is not a valid tag") }
            let database = try state.open()
            try database.setEnabled(tag, false)
            if let job = try database.job(tag), job.isRunning, let pid = job.runningPID {
                kill(pid, SIGTERM)
                Console.out("\(tag): cancelled; asked the running sync (pid \(pid)) to stop")
            } else {
                Console.out("\(tag): cancelled; `bgsync resume \(tag)` enables it again")
            }
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// `bgsync resume TAG`: enable a cancelled job.
struct ResumeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Enable a cancelled job again.")

    @Argument(help: "The job's tag.")
    var tag: String
    @OptionGroup var state: StateOptions

    func run() throws {
        do {
            guard JobFile.isValidTag(tag) else { throw ValidationError("\"\(tag)\" is not a valid tag") }
            try state.open().setEnabled(tag, true)
            Console.out("\(tag): enabled")
        } catch let error as ValidationError {
            throw error
        } catch {
            throw fail(error)
        }
    }
}

/// `bgsync factories`: the factories a registry and this build offer.
struct FactoriesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "factories", abstract: "List the factories of a registry and those compiled into this build.")

    @Option(help: "A registry file (default: /etc/bgsync/registry.toml).")
    var registry: String = "/etc/bgsync/registry.toml"
    @Flag(help: "Print a JSON array.")
    var json = false

    func run() throws {
        let loaded: FactoryRegistry
        do {
            loaded = try FactoryRegistry.load(path: registry, required: false)
        } catch {
            throw fail(error)
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
