import BGSyncReplication
import BGSyncStore
import Foundation

/// `conflicts = { exec = ["/path/to/resolver", …], timeout = "10s" }`: a program decides each
/// conflict. It is run once per document in conflict, without a shell, with the job's
/// environment, and gets on stdin one JSON object:
///
/// ```json
/// {"id":"note-1","leaves":[
///   {"rev":"3-9f…","deleted":false,"winner":true,"on_remote":true,
///    "revisions":{"start":3,"ids":["9f…","4a…","1c…"]},
///    "body":{"title":"from the server"},
///    "attachments":{"photo.jpg":{"content_type":"image/jpeg","revpos":2,"digest":"md5-…","length":5120,"stub":true}}},
///   {"rev":"3-2b…","deleted":false,"winner":false,"on_remote":false, …}]}
/// ```
///
/// It prints either `{"rev":"3-2b…"}` (keep that leaf; a deleted leaf deletes the document) or
/// `{"body":{…}}` (a merged body, written on top of the winner with the winner's attachments)
/// and exits 0. Anything else — another exit status, a timeout (the program is killed), output
/// that is not one of those two objects, a revision that is not one of the leaves — leaves the
/// document in conflict for this run: a warning names the document, it counts as unresolved,
/// and the other documents go on.
package struct ExecConflictResolver: ConflictResolver {
    /// The program and its arguments (absolute path).
    package var command: [String]
    /// Seconds the program may run for one document.
    package var timeout: Double
    /// The program's environment.
    package var environment: [String: String]

    /// Creates a resolver running `command`.
    package init(command: [String], timeout: Double = 10, environment: [String: String]) {
        self.command = command
        self.timeout = timeout
        self.environment = environment
    }

    package var name: String { "exec " + (command.first ?? "") }

    /// The program is told which leaves the remote has (`on_remote`).
    package var needsOrigin: Bool { true }

    package func resolve(_ conflict: Conflict) async throws -> ConflictResolution {
        // Its process group is killed at `timeout`, and when the run is stopped (cancellation).
        let outcome = try await ChildProcess.run(command, input: Array(Self.input(conflict).utf8), environment: environment,
                                                 timeout: timeout, maxOutput: 16 << 20)
        guard outcome.succeeded else {
            let detail = outcome.stderrTail(300)
            let how = outcome.timedOut ? "\(outcome.ending(timeout: timeout)) and was killed" : outcome.ending(timeout: timeout)
            throw ResolverProgramError(message: "\(command[0]) \(how)\(detail.isEmpty ? "" : ": " + detail)")
        }
        return try Self.resolution(fromOutput: outcome.stdout, conflict: conflict, program: command[0])
    }

    /// The JSON object the program reads (bodies as stored, never re-encoded).
    static func input(_ conflict: Conflict) -> String {
        var out = "{\"id\":"
        JSONString.append(conflict.id, to: &out)
        out += ",\"leaves\":["
        for (index, leaf) in conflict.leaves.enumerated() {
            if index > 0 { out += "," }
            out += "{\"rev\":\"\(leaf.rev)\",\"deleted\":\(leaf.deleted),\"winner\":\(index == 0)"
            if let onRemote = conflict.isOnRemote(leaf.rev) { out += ",\"on_remote\":\(onRemote)" }
            out += ",\"revisions\":{\"start\":\(leaf.rev.generation),\"ids\":["
            out += leaf.history.map { "\"\($0.hash)\"" }.joined(separator: ",") + "]}"
            out += ",\"body\":" + leaf.body + ",\"attachments\":{"
            for (position, attachment) in leaf.attachments.enumerated() {
                if position > 0 { out += "," }
                attachment.appendEntryStart(to: &out)
                out += ",\"length\":\(attachment.length),\"stub\":true}"
            }
            out += "}}"
        }
        return out + "]}"
    }

    /// Reads `{"rev":"…"}` or `{"body":{…}}`; the body's text is kept as printed.
    static func resolution(fromOutput bytes: [UInt8], conflict: Conflict, program: String) throws -> ConflictResolution {
        let expected = "expected {\"rev\":\"N-…\"} or {\"body\":{…}}"
        let members: [RawJSONMember]
        do {
            members = try RawJSONObject.members(ofObject: bytes)
        } catch {
            throw ResolverProgramError(message: "\(program) printed no JSON object (\(error)); \(expected)")
        }
        guard members.count == 1, let member = members.first else {
            throw ResolverProgramError(message: "\(program) printed an object with \(members.count) members; \(expected)")
        }
        let value = Array(bytes[member.valueRange])
        switch member.key {
        case "rev":
            guard let text = (try? JSONValue.parse(value))?.stringValue, let rev = try? RevisionID(parsing: text) else {
                throw ResolverProgramError(message: "\(program) printed a \"rev\" that is not a revision id; \(expected)")
            }
            guard conflict.leaves.contains(where: { $0.rev == rev }) else {
                throw ResolverProgramError(message: "\(program) chose \(rev), which is not one of the conflicting leaves (\(conflict.leaves.map(\.rev.description).joined(separator: ", ")))")
            }
            return .keep(rev)
        case "body":
            guard (try? JSONValue.parse(value))?.objectValue != nil else {
                throw ResolverProgramError(message: "\(program) printed a \"body\" that is not a JSON object; \(expected)")
            }
            return .merge(body: String(decoding: value, as: UTF8.self))
        default:
            throw ResolverProgramError(message: "\(program) printed the member \"\(member.key)\"; \(expected)")
        }
    }
}

/// Why a resolver program's answer was not used.
struct ResolverProgramError: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}
