import BGSyncReplication
import BGSyncStore

/// The `conflicts` setting of a factory: `"keep"` (the default; `"default"` is its alias),
/// `"remote-wins"`, `"local-wins"`, `"deterministic"` or `{ exec = [...], timeout = "10s" }`.
extension ConfigurationDecoder {
    static let conflictNames = ["keep", "remote-wins", "local-wins", "deterministic"]
    static let conflictExecKeys = ["exec", "timeout"]

    /// The resolver the setting names; nil for `keep`.
    func decodeConflicts(_ table: ConfigTable) throws -> (any ConflictResolver)? {
        guard let value = table.object["conflicts"] else { return nil }
        if value.objectValue != nil, let exec = try table.table("conflicts") {
            try exec.checkKeys(Self.conflictExecKeys)
            guard let command = try exec.stringArray("exec"), let program = command.first else {
                throw exec.error("exec", "missing; expected the resolver program and its arguments, e.g. [\"/usr/local/bin/merge-notes\"]")
            }
            guard program.hasPrefix("/") else { throw exec.error("exec", "\(program): give the program's absolute path") }
            let timeout = try exec.positiveDuration("timeout") ?? 10
            return ExecConflictResolver(command: command, timeout: timeout, environment: environment)
        }
        guard let name = value.stringValue else {
            throw table.error("conflicts", "expected one of \(Self.conflictNames.joined(separator: ", ")) or { exec = [\"/path/to/resolver\"], timeout = \"10s\" }")
        }
        switch name {
        case "keep", "default":
            return nil
        default:
            guard let rule = BuiltInConflictResolver.Rule(rawValue: name) else {
                var problem = "\"\(name)\" is not accepted"
                if let close = Suggestion.closest(to: name, among: Self.conflictNames) { problem += " (did you mean \"\(close)\"?)" }
                throw table.error("conflicts", problem + "; accepted: " + Self.conflictNames.joined(separator: ", ") + " or { exec = [\"/path/to/resolver\"], timeout = \"10s\" }")
            }
            return BuiltInConflictResolver(rule)
        }
    }
}
