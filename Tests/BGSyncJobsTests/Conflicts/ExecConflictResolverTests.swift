import BGSyncJobs
import BGSyncReplication
import BGSyncStore
import Foundation
import Logging
import Testing

@Suite("The exec conflict resolver")
struct ExecConflictResolverTests {
    /// A fresh directory with executable scripts in it (those of ``ConstraintSandbox``).
    final class Sandbox {
        let scripts: ConstraintSandbox
        /// The directory (the scripts' `bin`).
        var path: String { scripts.bin }
        init() throws {
            scripts = ConstraintSandbox(directory: FileManager.default.temporaryDirectory
                .appendingPathComponent("bgsync-resolver-\(UUID().uuidString)").path)
            try FileManager.default.createDirectory(atPath: scripts.bin, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: scripts.directory) }

        /// Writes `/bin/sh` script `name` and returns its path.
        func script(_ name: String, _ body: String) throws -> String {
            try scripts.script(name, body)
            return scripts.bin + "/" + name
        }
    }

    static func conflict() throws -> Conflict {
        let a = try RevisionID(parsing: "2-aaaa"), b = try RevisionID(parsing: "2-bbbb"), root = try RevisionID(parsing: "1-root")
        let stub = StoredAttachment(name: "a.txt", contentType: "text/plain", revpos: 2, digest: "md5-x", length: 5)
        return Conflict(id: "note \"1\"", leaves: [
            ConflictLeaf(rev: b, deleted: false, body: #"{"v":1.0,"big":12345678901234567890}"#, attachments: [stub], history: [b, root]),
            ConflictLeaf(rev: a, deleted: true, body: "{}", history: [a, root]),
        ], remoteRevisions: [b])
    }

    func resolve(_ script: String, timeout: Double = 10) async throws -> ConflictResolution {
        try await ExecConflictResolver(command: [script], timeout: timeout, environment: [:]).resolve(Self.conflict())
    }

    @Test("the program reads the leaves as JSON and prints the revision to keep or a merged body")
    func answers() async throws {
        let sandbox = try Sandbox()
        let keep = try sandbox.script("keep", "cat > \"$(dirname \"$0\")/input.json\"; echo '{\"rev\":\"2-aaaa\"}'")
        #expect(try await resolve(keep) == .keep(try RevisionID(parsing: "2-aaaa")))
        let input = try String(contentsOfFile: sandbox.path + "/input.json", encoding: .utf8)
        #expect(input.hasPrefix(#"{"id":"note \"1\"","leaves":[{"rev":"2-bbbb","deleted":false,"winner":true,"on_remote":true,"revisions":{"start":2,"ids":["bbbb","root"]},"body":{"v":1.0,"big":12345678901234567890}"#))
        #expect(input.contains(#""attachments":{"a.txt":{"content_type":"text/plain","revpos":2,"digest":"md5-x","length":5,"stub":true}}"#))
        #expect(input.contains(#"{"rev":"2-aaaa","deleted":true,"winner":false,"on_remote":false"#))
        #expect((try? JSONValue.parse(input)) != nil)
        let merge = try sandbox.script("merge", #"cat >/dev/null; printf '%s\n' '{ "body" : {"z":1, "a":2.50} }'"#)
        #expect(try await resolve(merge) == .merge(body: #"{"z":1, "a":2.50}"#))
    }

    @Test("a program that fails, times out or prints garbage leaves the conflict, with a reason", arguments: [
        ("echo oops >&2; exit 3", "exited with 3: oops"),
        // `exec`: today's ProgramRunner kills the program, not its process group, and waits for
        // the output pipes a surviving child would hold open.
        ("exec sleep 30", "timed out"),
        ("echo hello", "printed no JSON object"),
        (#"echo '{"rev":"2-cccc"}'"#, "not one of the conflicting leaves"),
        (#"echo '{"rev":"2-aaaa","body":{}}'"#, "2 members"),
        (#"echo '{"body":[1]}'"#, "not a JSON object"),
        (#"echo '{"keep":"2-aaaa"}'"#, "the member \"keep\""),
        ("kill -9 $$", "killed by signal 9"),
    ])
    func failures(body: String, expected: String) async throws {
        let sandbox = try Sandbox()
        let program = try sandbox.script("resolver", "cat >/dev/null; " + body)
        let timeout = body.contains("sleep") ? 1.0 : 20
        do {
            _ = try await resolve(program, timeout: timeout)
            Issue.record("no error for \(body)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
        // "timed out" says the runner killed it at its timeout; how soon that ends the call under
        // load is the child-process runner's business (and its tests').
    }

    @Test("in a run, a failing program leaves its document in conflict and the others resolved")
    func inARun() async throws {
        let sandbox = try Sandbox()
        // Keeps the loser (the last leaf listed) unless the document is "stuck".
        let program = try sandbox.script("resolver", """
            input=$(cat)
            case "$input" in *'"id":"stuck"'*) exit 1;; esac
            rev=$(printf '%s' "$input" | sed 's/.*"rev":"\\([^"]*\\)".*/\\1/')
            printf '{"rev":"%s"}' "$rev"
            """)
        let local = sandbox.path + "/local.sqlite", remote = sandbox.path + "/remote.sqlite"
        let store = try DocumentStore.open(at: local)
        for id in ["a", "stuck", "z"] {
            try store.write { tx in
                try tx.put(json: #"{"_id":"\#(id)","_rev":"2-aaaa","_revisions":{"start":2,"ids":["aaaa","root"]}}"#, newEdits: false)
                try tx.put(json: #"{"_id":"\#(id)","_rev":"2-bbbb","_revisions":{"start":2,"ids":["bbbb","root"]}}"#, newEdits: false)
            }
        }
        let registry = sandbox.path + "/registry.toml"
        try Data("""
            [factories.main]
            database = "local.sqlite"
            remote = "file:remote.sqlite"
            create_target = true
            conflicts = { exec = ["\(program)"], timeout = "5s" }
            """.utf8).write(to: URL(fileURLWithPath: registry))
        _ = chmod(registry, 0o644)
        let configuration = try await FactoryRegistry.load(path: registry, required: true)
            .makeConfiguration(factory: "main", input: JSONObject(), environment: [:])
        let result = try await Replicator(configuration: configuration, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })).run()
        #expect(result.conflicts.resolved == 2 && result.conflicts.unresolved == 1)
        let remoteStore = try DocumentStore.open(at: remote)
        for id in ["a", "z"] {
            #expect(try store.read { try $0.tree(of: id)?.winner?.rev.description } == "2-aaaa")
            #expect(try remoteStore.read { try $0.conflict(of: id) } == nil)
        }
        #expect(try store.read { try $0.conflict(of: "stuck") } != nil)
    }

    @Test("the conflicts setting: names, the alias default, exec tables; anything else is refused with the key named")
    func setting() async throws {
        let sandbox = try Sandbox()
        let registry = sandbox.path + "/registry.toml"
        func decode(_ value: String) async throws -> (any ConflictResolver)? {
            try Data("[factories.main]\ndatabase = \"db.sqlite\"\nremote = \"file:r.sqlite\"\nconflicts = \(value)\n".utf8)
                .write(to: URL(fileURLWithPath: registry))
            _ = chmod(registry, 0o644)
            return try await FactoryRegistry.load(path: registry, required: true)
                .makeConfiguration(factory: "main", input: JSONObject(), environment: [:]).conflictResolver
        }
        #expect(try await decode(#""keep""#) == nil)
        #expect(try await decode(#""default""#) == nil)
        for rule in BuiltInConflictResolver.Rule.allCases {
            #expect(try await decode("\"\(rule.rawValue)\"")?.name == rule.rawValue)
        }
        let exec = try #require(try await decode(#"{ exec = ["/usr/bin/true", "x"], timeout = "2s" }"#) as? ExecConflictResolver)
        #expect(exec.command == ["/usr/bin/true", "x"] && exec.timeout == 2)
        for (value, message) in [(#""remote-win""#, "did you mean \"remote-wins\""), (#"{ exec = ["true"] }"#, "absolute path"),
                                 (#"{ exec = ["/bin/true"], timout = "1s" }"#, "timout"), ("3", "expected one of")] {
            do {
                _ = try await decode(value)
                Issue.record("accepted \(value)")
            } catch {
                #expect("\(error)".contains(message) && "\(error)".contains("conflicts"), "\(error)")
            }
        }
    }
}
