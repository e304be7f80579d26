import BGSyncReplication
import BGSyncStore
import Foundation

/// A registry file (TOML) of named factories (`[factories.NAME]`), and the factories compiled
/// into this build.
public struct FactoryRegistry: Sendable {
    /// One factory of the registry.
    public enum Entry: Sendable {
        /// Settings written in the registry, with `${input.*}` placeholders.
        case declarative(JSONObject)
        /// A program that prints the configuration as JSON.
        case exec(command: [String], timeout: Double)
        /// A factory compiled into this build, under another name if given.
        case swift(String)

        /// `declarative`, `exec` or `swift`.
        public var kind: String {
            switch self {
            case .declarative: return "declarative"
            case .exec: return "exec"
            case .swift: return "swift"
            }
        }
    }

    enum Kind: String, CaseIterable { case declarative, exec, swift }

    /// The registry file, nil when none exists (only compiled-in factories).
    public var path: String?
    /// The registry's factories by name.
    public var entries: [String: Entry]
    let document: TOMLDocument?

    /// Loads a registry file. A missing file gives an empty registry when `required` is false.
    public static func load(path: String, required: Bool) throws -> FactoryRegistry {
        guard FileManager.default.fileExists(atPath: path) else {
            if required { throw JobError.config(path, key: nil, "the registry does not exist (the job names it with registry = …)") }
            return FactoryRegistry(path: nil, entries: [:], document: nil)
        }
        try FilePermissions.checkTrusted(path, what: "registry")
        let document: TOMLDocument
        do {
            document = try TOMLDocument(path: path, what: "registry")
        } catch let error as JobError where error.kind == .missingFile {
            // Named by a job, not on the command line: a configuration error (78).
            throw JobError(.configuration, error.message)
        }
        let root = ConfigTable(document.root, file: path, document: document)
        try root.checkKeys(["factories"])
        var entries: [String: Entry] = [:]
        if let factories = try root.table("factories") {
            for (name, value) in factories.object.members {
                guard let object = value.objectValue else { throw factories.error(name, "expected a table [factories.\(name)]") }
                let table = ConfigTable(object, file: path, section: "factories.\(name)", document: document)
                switch try table.choice("kind", Kind.self) ?? .declarative {
                case .declarative:
                    try table.checkKeys(ConfigurationDecoder.keys)
                    entries[name] = .declarative(object)
                case .exec:
                    try table.checkKeys(["kind", "command", "timeout"])
                    guard let command = try table.stringArray("command"), let program = command.first else {
                        throw table.error("command", "missing; expected the program and its arguments, e.g. [\"/usr/local/lib/app/bgsync-config\", \"--prod\"]")
                    }
                    guard program.hasPrefix("/") else { throw table.error("command", "\(program): give the program's absolute path") }
                    entries[name] = .exec(command: command, timeout: try table.duration("timeout") ?? 30)
                case .swift:
                    try table.checkKeys(["kind", "name"])
                    entries[name] = .swift(try table.string("name") ?? name)
                }
            }
        }
        return FactoryRegistry(path: path, entries: entries, document: document)
    }

    /// Every factory name available: the registry's and the compiled-in ones.
    public var names: [String] {
        Array(Set(entries.keys).union(CompiledFactories.names)).sorted()
    }

    /// Checks that `name` exists without building anything.
    public func validate(factory name: String) throws {
        if entries[name] != nil || CompiledFactories.named(name) != nil { return }
        var problem = "no factory named \"\(name)\""
        if let close = Suggestion.closest(to: name, among: names) { problem += " (did you mean \"\(close)\"?)" }
        problem += names.isEmpty ? "; the registry defines none" : "; available: " + names.joined(separator: ", ")
        throw JobError.config(path ?? "registry", key: "factory", problem)
    }

    /// Builds a configuration from scratch: substitutes `${input.*}`, runs the program, or calls
    /// the compiled-in factory. Cancelling the task stops an `exec` factory or a token command
    /// (their process group is killed) and throws `CancellationError`.
    public func makeConfiguration(factory name: String, input: JSONObject, environment: [String: String]) async throws -> ReplicatorConfiguration {
        try validate(factory: name)
        let base = path.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        let decoder = ConfigurationDecoder(environment: environment, baseDirectory: base)
        switch entries[name] {
        case .declarative(let object)?:
            let substituted = try Substitution.apply(.object(object), input: input, file: path ?? "registry", factory: name)
            return try await decoder.decode(ConfigTable(substituted.objectValue ?? JSONObject(), file: path ?? "registry",
                                                  section: "factories.\(name)", document: document))
        case .exec(let command, let timeout)?:
            let outcome = try await ChildProcess.run(command, input: Array(JSONValue.object(input).serialized.utf8),
                                                     environment: environment, timeout: timeout)
            let program = command[0]
            guard outcome.succeeded else {
                let detail = outcome.stderrTail()
                throw JobError(.configuration, "exec factory \(name): \(program) \(outcome.ending(timeout: timeout))\(detail.isEmpty ? "" : ": " + detail)")
            }
            let value: JSONValue
            do {
                value = try JSONValue.parse(outcome.stdout)
            } catch {
                throw JobError(.configuration, "exec factory \(name): \(program) printed invalid JSON (\(error)); expected one object with database, remote, …")
            }
            guard let object = value.objectValue else {
                throw JobError(.configuration, "exec factory \(name): \(program) printed \(value.kind), expected one JSON object with database, remote, …")
            }
            return try await decoder.decode(ConfigTable(object, file: "output of \(program)"))
        case .swift(let compiledName)?:
            return try compiled(compiledName, input: input)
        case nil:
            return try compiled(name, input: input)
        }
    }

    private func compiled(_ name: String, input: JSONObject) throws -> ReplicatorConfiguration {
        guard let factory = CompiledFactories.named(name) else {
            throw JobError.config(path ?? "registry", key: "factories.\(name)",
                                  "kind = \"swift\" but this bgsync build has no compiled-in factory \"\(name)\" (compiled in: \(CompiledFactories.names.joined(separator: ", ").isEmpty ? "none" : CompiledFactories.names.joined(separator: ", ")))")
        }
        do {
            return try factory.makeConfiguration(input: input)
        } catch let error as JobError {
            throw error
        } catch {
            throw JobError(.configuration, "swift factory \(name) refused the input: \(error)")
        }
    }
}

/// `${input.key}` (and `${input.a.b}`) placeholders in string values.
enum Substitution {
    static func apply(_ value: JSONValue, input: JSONObject, file: String, factory: String) throws -> JSONValue {
        switch value {
        case .string(let text):
            return .string(try substitute(text, input: input, file: file, factory: factory))
        case .array(let items):
            return .array(try items.map { try apply($0, input: input, file: file, factory: factory) })
        case .object(let object):
            var result = JSONObject()
            for (key, item) in object.members {
                result.set(key, try apply(item, input: input, file: file, factory: factory))
            }
            return .object(result)
        default:
            return value
        }
    }

    static func substitute(_ text: String, input: JSONObject, file: String, factory: String) throws -> String {
        guard text.contains("${") else { return text }
        var output = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${") {
            output += rest[..<start.lowerBound]
            guard let end = rest[start.upperBound...].firstIndex(of: "}") else {
                throw JobError.config(file, key: "factories.\(factory)", "unterminated placeholder in \"\(text)\"; write ${input.NAME}")
            }
            let name = String(rest[start.upperBound..<end])
            guard name.hasPrefix("input.") else {
                throw JobError.config(file, key: "factories.\(factory)", "unknown placeholder ${\(name)} in \"\(text)\"; only ${input.NAME} is substituted")
            }
            var value: JSONValue? = .object(input)
            for part in name.dropFirst("input.".count).split(separator: ".") { value = value?[String(part)] }
            switch value {
            case .string(let string)?: output += string
            case .number(let number)?: output += number
            case .bool(let flag)?: output += flag ? "true" : "false"
            default:
                let available = input.keys.joined(separator: ", ")
                throw JobError.config(file, key: "factories.\(factory)",
                                      "${\(name)} is not provided by the job's [input] (it has: \(available.isEmpty ? "nothing" : available))")
            }
            rest = rest[rest.index(after: end)...]
        }
        return output + rest
    }
}

extension FactoryRegistry {
    /// The local database a declarative factory would use (for the storage constraint), without
    /// reading any secret; nil for other kinds.
    package func databasePathHint(factory name: String, input: JSONObject, environment: [String: String]) throws -> String? {
        guard case .declarative(let object)? = entries[name], let text = object["database"]?.stringValue else { return nil }
        let path = try Substitution.substitute(text, input: input, file: self.path ?? "registry", factory: name)
        if path.hasPrefix("/") { return path }
        let base = self.path.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? FileManager.default.currentDirectoryPath
        return base + "/" + path
    }
}
