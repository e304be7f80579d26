import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// A malicious or broken server against the real binary: it cannot make bgsync write outside
/// its database, run anything, or fill memory; huge documents, 10,000 conflicts and deep
/// histories are handled within a memory budget. Serialized: child processes against a
/// fixture server in this process, some of them large.
@Suite("Hostile server against bgsync", .serialized)
struct HostileServerTests {
    /// Starts a server, runs `body`, stops the server.
    func withServer(_ configuration: FixtureServer.Configuration = FixtureServer.Configuration(),
                    _ body: (FixtureServer, DocumentStore, JobSandbox) async throws -> Void) async throws {
        let sandbox = try JobSandbox()
        defer { sandbox.remove() }
        try await withFixtureServer(configuration) { server in
            try await body(server, try server.createDatabase("db"), sandbox)
        }
    }

    @Test("ids and attachment names with ../, /, shell syntax and 70,000 characters are stored as data; nothing is written or run outside the database")
    func traversalAndShellSyntaxStayData() async throws {
        try await withServer { server, remote, sandbox in
            let marker = sandbox.root + "/pwned-\(UUID().uuidString)"
            let names = ["../../escape", "../../../../../../tmp/bgsync-escape-\(UUID().uuidString)", "/absolute", "a/b/c", "..", ".",
                         "$(touch \(marker))", "`touch \(marker)`", "x; touch \(marker)", "\\..\\..\\win", "_design/../../x",
                         String(repeating: "n", count: 70_000), "\u{202E}gpj.exe", "\u{FEFF}bom"]
            try remote.write { tx in
                for (index, name) in names.enumerated() {
                    let id = name.hasPrefix("_") && !name.hasPrefix("_design/") ? "x" + name : name
                    var attachments: [String] = []
                    for (other, attachment) in names.enumerated() where other % 3 == index % 3 {
                        attachments.append(JSONString.quoted(attachment) + #":{"content_type":"text/plain","data":"\#(Data("data \(other)".utf8).base64EncodedString())"}"#)
                    }
                    _ = try tx.put(id: id, json: #"{"n":\#(index),"_attachments":{"# + attachments.joined(separator: ",") + "}}")
                }
            }
            let work = sandbox.root + "/work/deeper"
            try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
            let before = StoreInvariants.listing(sandbox.root)
            let tmpBefore = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("bgsync-escape") })
            let running = try sandbox.start(["sync", "local.sqlite", server.url("db"), "--pull-only", "--json"], stateDir: false, currentDirectory: work)
            let run = try await running.finish()
            #expect(run.status == 0, "\(run.stderr)")
            let after = StoreInvariants.listing(sandbox.root)
            let created = Set(after).subtracting(before)
            #expect(created.subtracting(["work/deeper/local.sqlite", "work/deeper/local.sqlite-wal", "work/deeper/local.sqlite-shm"]).isEmpty,
                    "files created outside the database: \(created.sorted())")
            #expect(Set(((try? FileManager.default.contentsOfDirectory(atPath: "/tmp")) ?? []).filter { $0.hasPrefix("bgsync-escape") }) == tmpBefore)
            #expect(!FileManager.default.fileExists(atPath: marker))
            // Every id and attachment name is in the database, byte for byte.
            let local = try DocumentStore.open(at: work + "/local.sqlite")
            #expect(try local.read { try $0.allDocuments().count } == names.count)
            let stored = try local.read { try $0.document("../../escape", options: DocumentOptions(attachments: .data)) }
            let attachments = try JSONValue.parse(stored)["_attachments"]?.objectValue?.keys ?? []
            #expect(Set(attachments) == Set(names.enumerated().filter { $0.offset % 3 == 0 }.map(\.element)))
            let problems = try StoreInvariants.problems(in: local)
            #expect(problems.isEmpty, "\(problems)")
        }
    }

    @Test("server text reaches a hook only as data: a 403 reason with $(…) runs nothing")
    func serverTextIsNeverRun() async throws {
        try await withServer { server, _, sandbox in
            let marker = sandbox.root + "/pwned-\(UUID().uuidString)"
            let reason = "$(touch \(marker)) `touch \(marker)`; touch \(marker)"
            server.inject(.status(403, body: #"{"error":"forbidden","reason":"# + JSONString.quoted(reason) + "}", path: .any, times: .max))
            try sandbox.registry(remote: server.url("db"))
            let job = try sandbox.job(body: """
                [hooks]
                on_failure = ["/bin/sh", "-c", "printf '%s' \\"$BGSYNC_REASON\\" > \(sandbox.root)/reason.txt"]
                """)
            let run = try await sandbox.bgsync(["run", job])
            #expect(run.status == 77, "\(run.stderr)")
            #expect(run.stderr.contains("touch"), "\(run.stderr)")
            let passed = try String(contentsOfFile: sandbox.root + "/reason.txt", encoding: .utf8)
            #expect(passed.contains(reason), "\(passed)")
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
    }

    @Test("an endless _changes body stops at the 16 MB metadata cap: exit 65, bounded memory")
    func endlessBody() async throws {
        try await withServer { server, _, sandbox in
            server.inject(.endlessBody(path: .exact("/db/_changes"), times: .max))
            let running = try sandbox.start(["sync", sandbox.root + "/data/l.sqlite", server.url("db"), "--pull-only"], stateDir: false)
            let (run, peak) = try await running.finishMeasuringPeakMemory()
            #expect(run.status == 65, "\(run.stderr)")
            #expect(run.stderr.contains("larger than 16 MiB"), "\(run.stderr)")
            print("endless _changes body: exit \(run.status), peak RSS \(peak / 1024) MB")
            #expect(peak < 100 * 1024, "peak RSS \(peak) KiB")
        }
    }

    /// The size of the huge-document case: `BGSYNC_HUGE_DOC_MB` (e.g. 100), else 20.
    static let hugeMB = Int(ProcessInfo.processInfo.environment["BGSYNC_HUGE_DOC_MB"] ?? "") ?? 20

    @Test("a huge document (20 MB; BGSYNC_HUGE_DOC_MB=100 for the full case) is pulled and pushed within a memory budget")
    func hugeDocument() async throws {
        try await withServer { server, remote, sandbox in
            let size = Self.hugeMB << 20
            try remote.write { _ = try $0.put(id: "huge", json: "{\"s\":\"" + String(repeating: "h", count: size) + "\"}") }
            let local = sandbox.root + "/data/l.sqlite"
            let pull = try sandbox.start(["sync", local, server.url("db"), "--pull-only", "--json"], stateDir: false)
            let (pulled, pullPeak) = try await pull.finishMeasuringPeakMemory()
            #expect(pulled.status == 0, "\(pulled.stderr)")
            let body = try DocumentStore.open(at: local).read { try $0.document("huge") }
            #expect(body.utf8.count > size)

            let winner = try #require(try JSONValue.parse(body)["_rev"]?.stringValue)
            try DocumentStore.open(at: local).write {
                _ = try $0.put(id: "huge", json: "{\"_rev\":\"\(winner)\",\"s\":\"" + String(repeating: "k", count: size) + "\"}")
            }
            let push = try sandbox.start(["sync", local, server.url("db"), "--push-only", "--json"], stateDir: false)
            let (pushed, pushPeak) = try await push.finishMeasuringPeakMemory()
            #expect(pushed.status == 0, "\(pushed.stderr)")
            #expect(try remote.read { try $0.document("huge") }.contains("kkkk"))
            print("huge document of \(Self.hugeMB) MB: pull peak RSS \(pullPeak / 1024) MB, push peak RSS \(pushPeak / 1024) MB")
            // Copies of the body held at once: the budget is 8 plus 60 MB for the program.
            #expect(pullPeak < (60 << 10) + 8 * (size >> 10), "pull peak RSS \(pullPeak) KiB")
            #expect(pushPeak < (60 << 10) + 8 * (size >> 10), "push peak RSS \(pushPeak) KiB")
        }
    }

    /// Conflicts of one document for the pull case: `BGSYNC_CONFLICTS` (e.g. 10000), else 300
    /// (writing n conflicts one by one costs O(n²) in the store).
    static let conflicts = Int(ProcessInfo.processInfo.environment["BGSYNC_CONFLICTS"] ?? "") ?? 300

    @Test("many conflicts (300; BGSYNC_CONFLICTS=10000) and a 1,000-deep history are pulled whole, as the server holds them")
    func conflictsAndDeepHistory() async throws {
        try await withServer { server, remote, sandbox in
            try remote.write { tx in
                _ = try tx.put(json: #"{"_id":"c","_rev":"1-root","_revisions":{"start":1,"ids":["root"]}}"#, newEdits: false)
                for i in 0..<Self.conflicts {
                    let hash = String(format: "%08x", i)
                    _ = try tx.put(json: #"{"_id":"c","_rev":"2-\#(hash)","_revisions":{"start":2,"ids":["\#(hash)","root"]},"i":\#(i)}"#, newEdits: false)
                }
                let ids = (1...1000).reversed().map { "\"d\($0)\"" }.joined(separator: ",")
                _ = try tx.put(json: #"{"_id":"deep","_rev":"1000-d1000","_revisions":{"start":1000,"ids":[\#(ids)]}}"#, newEdits: false)
            }
            let local = sandbox.root + "/data/l.sqlite"
            let pull = try sandbox.start(["sync", local, server.url("db"), "--pull-only", "--json"], stateDir: false)
            let (run, peak) = try await pull.finishMeasuringPeakMemory()
            #expect(run.status == 0, "\(run.stderr)")
            let store = try DocumentStore.open(at: local)
            #expect(try store.read { try $0.tree(of: "c") }?.leaves.count == Self.conflicts)
            let deep = try JSONValue.parse(try store.read { try $0.document("deep", options: DocumentOptions(revs: true)) })
            #expect(deep["_revisions"]?["ids"]?.arrayValue?.count == 1000)
            print("\(Self.conflicts) conflicts + 1,000-deep history: pull peak RSS \(peak / 1024) MB")
            #expect(peak < 100 * 1024, "peak RSS \(peak) KiB")
        }
    }
}
